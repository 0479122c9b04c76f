"""Load test: 50 concurrent clients for 60 s over a realistic mix, for 1 and 2 server workers.

Starts SeaweedFS (50 users' output folders seeded, 20 data files and 20 sidecars each), an
Airflow 3 with one cheap DAG (empty tasks), and ``labcas-workflow-api serve --workers N`` in
a subprocess, all on 127.0.0.1. Each client is its own user with its own token and keep-alive
connection (a small asyncio HTTP/1.1 client, so that the driver costs little CPU next to the
server on a 2-core machine). The mix: list data selections and workflows, a workflow's
details, the caller's runs, browse the output root and a folder, and a few run creations (6 per
run, evenly spaced; none in the 3-second warm-up).
Then ``GET /data-selections`` alone with one worker. The local Airflow's SQLite database is in
WAL mode (the harness sets it): with the default journal, a stream of API reads starves the
scheduler's writes until it dies of "database is locked" (a limit of the local stack, not of
the API).

Prints requests/s, p50/p95/p99 latency and errors per kind of call and in total, with the
load average before and after (other work on the machine skews the figures).

    python bench/load.py [--clients 50] [--duration 60] [--workers 1 2]
                         [--only-duration 30] [--keep]

Targets on the 2-core machine: no errors, p99 under 500 ms for the read endpoints, and at
least 500 requests/s for ``GET /data-selections`` with one worker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from served import engine_env, serve_api, stop_api

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.devstack.airflow import AirflowServer
from labcas_workflow_api.devstack.airflow_venv import ensure_airflow_venv
from labcas_workflow_api.devstack.seaweed import SeaweedS3, start_seaweed

SECRET = "load-bench-secret-0123456789abcdef-0123456789abcdef"
STAGING, DATA = "labcas-staging", "edrn-data"
COLLECTIONS = [f"collection_{i}" for i in range(5)]
FOLDER = "20260101T000000000000"
FILES_PER_FOLDER = 20
RUN_CREATIONS = int(os.environ.get("LOAD_RUN_CREATIONS", "6"))  # evenly spread over a run

DAG = """
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param

with DAG(
    "bench_cheap",
    description="Two empty tasks (load bench)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"tile_size": Param(64, type="integer", minimum=8)},
) as dag:
    EmptyOperator(task_id="start") >> EmptyOperator(task_id="finish")
"""


def access_config(users: list[str]) -> str:
    lines = ["collections:"]
    for index, cid in enumerate(COLLECTIONS):
        allowed = users if index == 0 else users[index::2]
        lines += [
            f"  {cid}:",
            f"    bucket: {DATA}",
            f"    prefix: {cid}/",
            f"    description: Collection {index}",
            "    workflows:",
            "      bench_cheap:",
            f"        authorized_users: [{', '.join(allowed)}]",
            "      not_deployed:",
            f"        authorized_users: [{users[0]}]",
        ]
    return "\n".join(lines) + "\n"


def seed_outputs(s3: SeaweedS3, users: list[str]) -> None:
    client = s3.client()

    def put(user: str) -> None:
        prefix = f"{user}/{FOLDER}/"
        for i in range(FILES_PER_FOLDER):
            client.put_object(Bucket=STAGING, Key=f"{prefix}image_{i:03d}.csv", Body=b"a,b\n1,2\n")
            client.put_object(
                Bucket=STAGING,
                Key=f"{prefix}image_{i:03d}.csv.cfg",
                Body=f"[image_{i:03d}.csv]\nquality = good\nreviewer = {user}\n".encode(),
            )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, users))


# -- a lean keep-alive HTTP/1.1 client -------------------------------------------------------


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body or method in ("POST", "PUT"):
            head.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        try:
            status_line = await self.reader.readuntil(b"\r\n")
            length, close = 0, False
            while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and "close" in value.lower():
                    close = True
            payload = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        if close:
            await self.close()
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


# -- the load ----------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, name: str, seconds: float, error: str | None) -> None:
        if error:
            self.errors[name].append(error)
        else:
            self.latencies[name].append(seconds)


MIX = [  # (name, weight)
    ("GET /data-selections", 20),
    ("GET /data-selections/workflows", 10),
    ("GET /workflows", 15),
    ("GET /workflows/{id}", 10),
    ("GET /workflows/{id}/runs", 15),
    ("GET /output-data/", 10),
    ("GET /output-data/{folder}/", 20),
]


def target(name: str, user: str) -> tuple[str, str, bytes]:
    return {
        "GET /data-selections": ("GET", "/data-selections", b""),
        "GET /data-selections/workflows": (
            "GET",
            f"/data-selections/workflows?data_id={COLLECTIONS[0]}",
            b"",
        ),
        "GET /workflows": ("GET", "/workflows", b""),
        "GET /workflows/{id}": ("GET", "/workflows/bench_cheap", b""),
        "GET /workflows/{id}/runs": ("GET", "/workflows/bench_cheap/runs", b""),
        "GET /output-data/": ("GET", "/output-data/", b""),
        "GET /output-data/{folder}/": ("GET", f"/output-data/{FOLDER}/", b""),
        "POST /workflows/{id}/runs": (
            "POST",
            "/workflows/bench_cheap/runs",
            f'{{"in_data_selection": "{COLLECTIONS[0]}", "tile_size": 16}}'.encode(),
        ),
    }[name]


async def client(
    index: int,
    url: str,
    user: str,
    deadline: float,
    stats: Stats,
    mix: list[tuple[str, int]],
    create_at: float | None,
) -> None:
    host, port = url.removeprefix("http://").split(":")
    conn = Connection(host, int(port))
    headers = {"Authorization": f"Bearer {mint_token(SECRET, user)}", "Accept": "application/json"}
    rng = random.Random(index)
    names = [n for n, _ in mix]
    weights = [w for _, w in mix]
    while time.monotonic() < deadline:
        name = rng.choices(names, weights)[0]
        if create_at is not None and time.monotonic() >= create_at:
            name, create_at = "POST /workflows/{id}/runs", None
        method, path, body = target(name, user)
        began = time.perf_counter()
        error = None
        try:
            status, payload = await conn.request(method, path, headers, body)
            if status >= 400:
                error = f"{status} {payload[:120]!r}"
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            error = repr(exc)
        stats.add(name, time.perf_counter() - began, error)
    await conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(title: str, stats: Stats, seconds: float) -> dict[str, Any]:
    print(f"\n{title}")
    print(f"{'call':34} {'count':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} errors")
    names = sorted(set(stats.latencies) | set(stats.errors))
    everything: list[float] = []
    for name in names:
        values = stats.latencies.get(name, [])
        everything += values
        errors = len(stats.errors.get(name, []))
        if values:
            print(
                f"{name:34} {len(values):7d} {len(values) / seconds:8.1f} "
                f"{percentile(values, 0.5):8.1f} {percentile(values, 0.95):8.1f} "
                f"{percentile(values, 0.99):8.1f} {errors}"
            )
        else:
            print(f"{name:34} {0:7d} {'-':>8} {'-':>8} {'-':>8} {'-':>8} {errors}")
    total_errors = sum(len(e) for e in stats.errors.values())
    total = len(everything) / seconds
    if everything:
        print(
            f"{'total':34} {len(everything):7d} {total:8.1f} {percentile(everything, 0.5):8.1f} "
            f"{percentile(everything, 0.95):8.1f} {percentile(everything, 0.99):8.1f} "
            f"{total_errors}"
        )
    for name, errors in stats.errors.items():
        print(f"  first errors of {name}: {errors[:3]}")
    return {"rps": total, "errors": total_errors}


async def drive(
    url: str,
    users: list[str],
    clients: int,
    seconds: float,
    mix: list[tuple[str, int]],
    creations: int = 0,
) -> Stats:
    """``clients`` clients for ``seconds``; ``creations`` of them each start one run, at
    evenly spaced times."""
    stats = Stats()
    start = time.monotonic()
    deadline = start + seconds
    step = clients // creations if creations else 0
    when = {
        i * step: start + (k + 0.5) * seconds / creations for k, i in enumerate(range(creations))
    }
    await asyncio.gather(
        *(
            client(i, url, users[i % len(users)], deadline, stats, mix, when.get(i))
            for i in range(clients)
        )
    )
    return stats


def journal_mode(database: Path) -> str:
    """The journal mode of Airflow's SQLite database (the harness puts it in WAL mode)."""
    with sqlite3.connect(database, timeout=30) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def airflow_healthy(url: str) -> bool:
    try:
        health = httpx.get(url + "/api/v2/monitor/health", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return False
    return all(
        (health.get(c) or {}).get("status") == "healthy" for c in ("metadatabase", "scheduler")
    )


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only-duration", type=float, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    users = [f"user{i:02d}" for i in range(args.clients)]
    work = Path(tempfile.mkdtemp(prefix="labcas-load-"))
    (work / "dags").mkdir()
    (work / "dags" / "bench_cheap.py").write_text(DAG)
    (work / "access.yml").write_text(access_config(users))
    s3 = start_seaweed(work / "s3", buckets=(STAGING, DATA))
    airflow = AirflowServer(
        ensure_airflow_venv(),
        dags_folder=work / "dags",
        home=work / "airflow",
        extra_env=s3.env(),
    )
    results: dict[str, Any] = {}
    try:
        seed_outputs(s3, users)
        airflow.start()
        airflow.wait_ready()
        airflow.wait_for_dag("bench_cheap")
        print(f"Airflow SQLite journal: {journal_mode(airflow.home / 'airflow.db')}")
        env = engine_env(
            airflow,
            work / "access.yml",
            SECRET,
            **s3.env(),
            LABCAS_STAGING_BUCKET=STAGING,
            LABCAS_LOG_LEVEL="WARNING",
        )
        print(f"{args.clients} clients, {args.duration:.0f} s per run; {os.cpu_count()} CPUs")
        runs: list[tuple[str, int, list[tuple[str, int]], float]] = [
            (f"mix, {n} worker{'s' if n > 1 else ''}", n, MIX, args.duration) for n in args.workers
        ]
        if args.only_duration > 0:
            runs.append(("GET /data-selections alone, 1 worker", 1, MIX[:1], args.only_duration))
        for title, workers, mix, seconds in runs:
            if not airflow_healthy(airflow.url):
                print(f"\n(Airflow's scheduler died before '{title}'; see {airflow.log_path}.")
                print(
                    " Restarting it: on SQLite it cannot take long lock waits on a busy machine.)"
                )
                airflow.stop()
                airflow.start()
                airflow.wait_ready()
            process, url = serve_api(
                env, workers=workers, log_path=work / "api.log", ready="/readyz"
            )
            try:
                asyncio.run(drive(url, users, args.clients, 3, mix))  # warm-up
                before = loadavg()
                began = time.monotonic()
                creations = RUN_CREATIONS if len(mix) > 1 else 0
                stats = asyncio.run(drive(url, users, args.clients, seconds, mix, creations))
                elapsed = time.monotonic() - began
                results[title] = report(
                    f"{title}: load average before {before}, after {loadavg()}", stats, elapsed
                )
            finally:
                stop_api(process)
        print("\nsummary:")
        for title, figures in results.items():
            print(f"  {title}: {figures['rps']:.0f} req/s, {figures['errors']} errors")
        return 0
    finally:
        airflow.stop()
        s3.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
