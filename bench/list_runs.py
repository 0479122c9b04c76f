"""Listing one user's 100 runs among 2,000 runs of a DAG: the API against the narrowest
direct Airflow query that returns those runs, in the same run.

Starts Airflow 3 (cached virtualenv, own home, SQLite) and the API (``labcas-workflow-api
serve``, its own process) on 127.0.0.1, pauses ``labcas_sleep`` so that no run executes, and
creates ``--runs`` runs of it through Airflow's REST API: ``--mine`` of them for user
``benchx`` (conf ``username`` and our run id scheme ``labcas__benchx__<stamp>``), the rest for
19 other users, among them ``benchxy`` whose run ids share the prefix. Then it times,
interleaved, with keep-alive clients and after warm-ups:

- ``GET /workflows/labcas_sleep/runs`` as ``benchx`` through the API;
- each direct ``GET /api/v2/dags/labcas_sleep/dagRuns`` that returns exactly those runs
  (run id prefix and conf filters, together and alone); the fastest is the baseline;

and prints medians, the ratio (target: at most 1.5) and the Airflow calls one listing makes.

    python bench/list_runs.py [--runs 2000] [--mine 100] [--repeat 40]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from served import engine_env, serve_api, stop_api

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.devstack.airflow import AirflowServer
from labcas_workflow_api.devstack.airflow_venv import ensure_airflow_venv
from labcas_workflow_api.engines.airflow import AirflowEngine
from labcas_workflow_api.service.run_conf import run_id_prefix

DAG = "labcas_sleep"
USER = "benchx"
SECRET = "list-runs-bench-secret-0123456789abcdef-0123456789abcdef"
CONFIG = f"""
collections:
  sleep_inputs:
    bucket: edrn-data
    prefix: sleep_inputs/
    workflows:
      {DAG}:
        authorized_users: [{USER}]
"""


def others(n: int = 19) -> list[str]:
    return ["benchxy", *[f"user{i:02d}" for i in range(1, n)]]


def owners(total: int, mine: int) -> list[str]:
    """Who each run belongs to, ``USER``'s runs spread evenly among the others'."""
    step = total / mine
    chosen = {int(i * step) for i in range(mine)}
    rest = others()
    return [USER if i in chosen else rest[i % len(rest)] for i in range(total)]


def create_runs(http: httpx.Client, prefix: str, total: int, mine: int) -> float:
    """Trigger ``total`` runs of the paused DAG; return the seconds it took."""
    began = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i, owner in enumerate(owners(total, mine)):
        stamp = (base + timedelta(seconds=i)).strftime("%Y%m%dT%H%M%S%f")
        conf = {
            "seconds": 0,
            "in_data_selection": "sleep_inputs",
            "in_bucket": "edrn-data",
            "in_prefix": "sleep_inputs/",
            "out_bucket": "labcas-staging",
            "out_prefix": f"{owner}/{stamp}",
            "username": owner,
        }
        body = {"dag_run_id": run_id_prefix(owner) + stamp, "conf": conf, "logical_date": None}
        answer = http.post(f"{prefix}/dags/{DAG}/dagRuns", json=body)
        if answer.status_code not in (200, 409):
            raise RuntimeError(f"trigger {i} failed: {answer.status_code} {answer.text[:300]}")
        if (i + 1) % 500 == 0:
            print(f"  {i + 1} runs created ({time.perf_counter() - began:.0f} s)", flush=True)
    return time.perf_counter() - began


def timed(call: Callable[[], httpx.Response]) -> tuple[float, Any]:
    began = time.perf_counter()
    answer = call()
    elapsed = (time.perf_counter() - began) * 1000
    answer.raise_for_status()
    return elapsed, answer.json()


def start_api(work: Path, airflow: AirflowServer) -> tuple[subprocess.Popen[bytes], str]:
    (work / "access.yml").write_text(CONFIG)
    env = engine_env(
        airflow,
        work / "access.yml",
        SECRET,
        LABCAS_STAGING_BUCKET="labcas-staging",
        LABCAS_RUN_LIST_TTL="0",  # every listing asks Airflow: the path being compared
    )
    return serve_api(env)


class Counting(httpx.BaseTransport):
    """Plain HTTP, counting the requests whose path contains ``part``."""

    def __init__(self, part: str = "") -> None:
        self.inner = httpx.HTTPTransport()
        self.part = part
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.part in request.url.path:
            self.calls += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def airflow_calls_per_listing(airflow: AirflowServer) -> int:
    """How many Airflow requests one listing of USER's runs makes (token aside)."""
    counted = Counting("/dagRuns")
    with AirflowEngine(
        airflow.url, airflow.username, airflow.password, transport=counted
    ) as engine:
        engine.list_user_runs([DAG], username=USER, run_id_prefix=run_id_prefix(USER))
    return counted.calls


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench(api: httpx.Client, direct: httpx.Client, mine: int, repeat: int) -> int:
    prefix = run_id_prefix(USER)
    queries = {
        "prefix + conf filter": {
            "run_id_prefix_pattern": prefix,
            "conf_contains": json.dumps(USER),
        },
        "prefix filter": {"run_id_prefix_pattern": prefix},
        "conf filter": {"conf_contains": json.dumps(USER)},
    }
    ours = f"/workflows/{DAG}/runs"
    _, listed = timed(lambda: api.get(ours))
    expected = sorted(r["run_id"] for r in listed["runs"])
    if len(expected) != mine or any(not r.startswith(prefix) for r in expected):
        raise RuntimeError(f"the API listed {len(expected)} runs, not the user's {mine}")
    exact = {}
    for name, params in queries.items():
        query = {**params, "order_by": "-id", "limit": 100}
        _, body = timed(lambda query=query: direct.get(f"/api/v2/dags/{DAG}/dagRuns", params=query))
        ids = sorted(r["dag_run_id"] for r in body["dag_runs"])
        total = body["total_entries"]
        note = "exactly the user's runs" if ids == expected and total == mine else "not exact"
        print(f"  direct {name:<22} answers {total:5d} runs: {note}")
        if ids == expected and total == mine:
            exact[name] = query
    if not exact:
        raise RuntimeError("no direct query returns exactly the user's runs")

    samples: dict[str, list[float]] = {"API": [], **{name: [] for name in exact}}
    for round_ in range(10 + repeat):
        for name, call in [
            ("API", lambda: api.get(ours)),
            *[
                (name, lambda q=q: direct.get(f"/api/v2/dags/{DAG}/dagRuns", params=q))
                for name, q in exact.items()
            ],
        ]:
            elapsed, _ = timed(call)
            if round_ >= 10:
                samples[name].append(elapsed)

    print(f"\n{repeat} interleaved repetitions after 10 warm-ups (keep-alive):")
    for name, values in samples.items():
        label = f"through the API ({len(expected)} runs)" if name == "API" else f"direct, {name}"
        print(f"  {label:<40} median {median(values):7.2f} ms  min {min(values):7.2f} ms")
    baseline_name = min(exact, key=lambda name: median(samples[name]))
    ratio = median(samples["API"]) / median(samples[baseline_name])
    verdict = "OK" if ratio <= 1.5 else "OVER TARGET"
    print(f"\nratio API / narrowest direct query ({baseline_name}): {ratio:.2f}x")
    print(f"target <= 1.5x: {verdict}")
    return 0 if ratio <= 1.5 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs of the DAG in all")
    parser.add_argument("--mine", type=int, default=100, help="runs of the listed user")
    parser.add_argument("--repeat", type=int, default=40, help="timed repetitions")
    args = parser.parse_args()
    if not 0 < args.mine <= min(args.runs, 100):
        parser.error("--mine must be 1..100 (one Airflow page) and at most --runs")
    work = Path(tempfile.mkdtemp(prefix="labcas-bench-runs-"))
    airflow = AirflowServer(ensure_airflow_venv(), home=work / "airflow")
    api_process = None
    try:
        print("starting Airflow 3 ...", flush=True)
        airflow.start()
        airflow.wait_ready()
        airflow.wait_for_dag(DAG)
        direct = httpx.Client(
            base_url=airflow.url, headers={"Authorization": f"Bearer {airflow.token()}"}, timeout=60
        )
        direct.patch(f"/api/v2/dags/{DAG}", json={"is_paused": True}).raise_for_status()
        print(f"creating {args.runs} runs of the paused DAG {DAG} ({args.mine} of {USER}) ...")
        seconds = create_runs(direct, "/api/v2", args.runs, args.mine)
        print(f"  done in {seconds:.0f} s\n")
        api_process, api_url = start_api(work, airflow)
        token = mint_token(SECRET, USER)
        api = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        print(f"Airflow calls per listing through the API: {airflow_calls_per_listing(airflow)}")
        return bench(api, direct, args.mine, args.repeat)
    finally:
        if api_process is not None:
            stop_api(api_process)
        airflow.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
