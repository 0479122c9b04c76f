"""Load test: 50 concurrent clients over a realistic mix, for 1 and 2 server workers, measured
by this script's own driver and, with one worker, by ``wrk``.

Starts SeaweedFS (50 users' output folders seeded, 20 data files and 20 sidecars each), an
Airflow 3 with one cheap DAG (empty tasks), and ``labcas-workflow-api serve --workers N`` in
a subprocess, all on 127.0.0.1. Each driver client is its own user with its own token and
keep-alive connection (a small asyncio HTTP/1.1 client). The mix: list data selections and
workflows, a workflow's details, the caller's runs, browse the output root and a folder, and
a few run creations (6 per run, evenly spaced; none in the 3-second warm-up). Then, with one
worker, ``GET /data-selections`` alone.

The driver is Python and shares the 2 cores with the server, so its figures include its own
CPU. With one worker the same server is also measured by ``wrk`` (Debian's ``wrk``, a C load
generator; skipped when absent), 50 connections over 2 threads: ``/healthz``,
``GET /data-selections``, and the read mix without run creations (data selections,
workflows, workflow detail, run list, output browse, same weights), each connection with
the token of one of the 50 users. The local Airflow's SQLite database is in WAL mode (the
harness sets it): with the default journal, a stream of API reads starves the scheduler's
writes until it dies of "database is locked" (a limit of the local stack, not of the API).

Prints requests/s, p50/p95/p99 latency (wrk: p50/p90/p99) and errors per kind of call and in
total, with the load average before and after (other work on the machine skews the figures),
and a summary of both measurements side by side.

    python bench/load.py [--clients 50] [--duration 60] [--workers 1 2]
                         [--only-duration 30] [--wrk-duration 20] [--keep]

Targets on the 2-core machine, one worker: no errors, at least 1,500 requests/s for
``GET /data-selections`` (wrk) and p99 under 250 ms for the 50-connection read mix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import sqlite3
import subprocess
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
    p99 = percentile(everything, 0.99) if everything else float("nan")
    return {"rps": total, "p99": p99, "errors": total_errors}


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


# -- wrk -------------------------------------------------------------------------------------

WRK = "/usr/bin/wrk"
WRK_SCRIPT = """
local paths = {%(paths)s}
local tokens = {%(tokens)s}
local counter = 0
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  local n = 0
  requests = {}
  for i, path in ipairs(paths) do
    n = n + 1
    local token = tokens[((id * 997 + i) %% #tokens) + 1]
    requests[n] = wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
  end
end
function request()
  counter = counter + 1
  return requests[((counter - 1) %% #requests) + 1]
end
"""


def wrk_script(paths: list[str], tokens: list[str]) -> str:
    """A wrk script cycling over ``paths`` (in a shuffled, weighted order), each request with
    one of ``tokens``."""
    quoted = ", ".join(f'"{p}"' for p in paths)
    return WRK_SCRIPT % {"paths": quoted, "tokens": ", ".join(f'"{t}"' for t in tokens)}


def mix_paths(mix: list[tuple[str, int]], user: str) -> list[str]:
    """The read mix as a list of 200 paths in a fixed shuffled order, by weight."""
    paths = [target(name, user)[1] for name, weight in mix for _ in range(weight * 2)]
    random.Random(0).shuffle(paths)
    return paths


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(
    url: str, paths: list[str], tokens: list[str], seconds: float, work: Path, name: str
) -> dict[str, Any]:
    """``wrk -t2 -c50 --latency`` for ``seconds`` on ``paths``; requests/s, latencies (ms) and
    errors (socket errors, non-2xx answers)."""
    script = work / f"wrk-{name}.lua"
    script.write_text(wrk_script(paths, tokens))
    command = [WRK, "-t2", "-c50", f"-d{seconds:.0f}s", "--latency", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures: dict[str, Any] = {"errors": 0}
    figures["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    for q in ("50", "90", "99"):
        found = re.search(rf"^\s+{q}(?:\.000)?%\s+(\S+)", output, re.MULTILINE)
        figures[f"p{q}"] = _ms(found.group(1)) if found else float("nan")
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: (.*)"):
        found = re.search(pattern, output)
        if found:
            figures["errors"] += sum(int(n) for n in re.findall(r"\d+", found.group(1)))
    return figures


def report_wrk(title: str, figures: dict[str, Any]) -> None:
    print(
        f"wrk {title:40} {figures['rps']:8.1f} req/s  p50 {figures['p50']:6.1f}  "
        f"p90 {figures['p90']:6.1f}  p99 {figures['p99']:6.1f} ms  errors {figures['errors']}"
    )


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
    parser.add_argument("--wrk-duration", type=float, default=20, help="0: no wrk")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    users = [f"user{i:02d}" for i in range(args.clients)]
    tokens = [mint_token(SECRET, user) for user in users]
    use_wrk = args.wrk_duration > 0 and Path(WRK).exists()
    if args.wrk_duration > 0 and not use_wrk:
        print(f"({WRK} is missing: no wrk figures; apt-get install wrk)")
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
    measured_by_wrk: dict[str, Any] = {}
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
        for workers in args.workers:
            if not airflow_healthy(airflow.url):
                print(f"\n(Airflow's scheduler died before the run with {workers} worker(s);")
                print(
                    f" see {airflow.log_path}. Restarting it: on SQLite it cannot take long"
                    " lock waits on a busy machine.)"
                )
                airflow.stop()
                airflow.start()
                airflow.wait_ready()
            process, url = serve_api(
                env, workers=workers, log_path=work / "api.log", ready="/readyz"
            )
            plural = "s" if workers > 1 else ""
            runs = [(f"mix, {workers} worker{plural}", MIX, args.duration, RUN_CREATIONS)]
            if workers == 1 and args.only_duration > 0:
                runs.append(
                    ("GET /data-selections alone, 1 worker", MIX[:1], args.only_duration, 0)
                )
            try:
                asyncio.run(drive(url, users, args.clients, 3, MIX))  # warm-up
                for title, mix, seconds, creations in runs:
                    before = loadavg()
                    began = time.monotonic()
                    stats = asyncio.run(drive(url, users, args.clients, seconds, mix, creations))
                    elapsed = time.monotonic() - began
                    results[title] = report(
                        f"{title}: load average before {before}, after {loadavg()}",
                        stats,
                        elapsed,
                    )
                if workers == 1 and use_wrk:
                    print(f"\nwrk, 50 connections, 2 threads, {args.wrk_duration:.0f} s each")
                    for title, paths in (
                        ("GET /healthz", ["/healthz"]),
                        ("GET /data-selections", ["/data-selections"]),
                        ("read mix", mix_paths(MIX, users[0])),
                    ):
                        before = loadavg()
                        name = re.sub(r"[^a-z]+", "-", title.lower()).strip("-")
                        figures = run_wrk(url, paths, tokens, args.wrk_duration, work, name)
                        measured_by_wrk[title] = figures
                        report_wrk(f"{title} (load {before} -> {loadavg()})", figures)
            finally:
                stop_api(process)
        print("\nsummary (requests/s, p99 ms, errors):")
        for title, figures in results.items():
            print(
                f"  driver {title:40} {figures['rps']:7.0f}  p99 {figures['p99']:6.1f}  "
                f"{figures['errors']}"
            )
        for title, figures in measured_by_wrk.items():
            print(
                f"  wrk    {title + ', 1 worker':40} {figures['rps']:7.0f}  "
                f"p99 {figures['p99']:6.1f}  {figures['errors']}"
            )
        return 0
    finally:
        airflow.stop()
        s3.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
