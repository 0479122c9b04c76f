"""Per-request overhead of the API over a direct Airflow call for the same data.

Starts SeaweedFS, Airflow 3 and the API (`labcas-workflow-api serve`, its own process) on
127.0.0.1, triggers a few runs, then times interleaved pairs of calls with keep-alive clients:

- GET /workflows/nebraska_demo            vs  GET /api/v2/dags/nebraska_demo/details
- GET /workflows/nebraska_demo/runs  vs  the same narrowed GET /api/v2/dags/nebraska_demo/dagRuns

and prints medians, p95s and the median overhead (target: at most 5 ms). The API is timed
twice: with its engine caches off (``LABCAS_ENGINE_CACHE_TTL=0``, ``LABCAS_RUN_LIST_TTL=0``:
every request asks Airflow) and with the default caches (what clients get). With the caches
off the API also reads the DAG list (which workflows are deployed, for the access rules)
before the call above, so the overhead is taken over the same two calls made directly; the
single direct call is printed too.

    python bench/api_overhead.py [--requests 300]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from served import engine_env, serve_api, stop_api

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.devstack.airflow import AirflowServer
from labcas_workflow_api.devstack.airflow_venv import ensure_airflow_venv
from labcas_workflow_api.devstack.seaweed import start_seaweed
from labcas_workflow_api.devstack.stack import EXAMPLE_CONFIG, seed_demo_images

SECRET = "bench-secret-0123456789abcdef-0123456789abcdef-0123"


DAG_LIST = "/api/v2/dags"
DAG_LIST_QUERY = {"params": {"limit": 100, "offset": 0}}


def timed(http: httpx.Client, url: str, **kwargs: object) -> float:
    began = time.perf_counter()
    answer = http.get(url, **kwargs)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - began
    answer.raise_for_status()
    return elapsed * 1000


def timed_pair(http: httpx.Client, url: str, **kwargs: object) -> float:
    """The DAG list, then ``url``: the Airflow calls of the API with its cache off."""
    return timed(http, DAG_LIST, **DAG_LIST_QUERY) + timed(http, url, **kwargs)


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(values):6.2f} ms  p95 {p95:6.2f} ms"


def start_api(env: dict[str, str], *, caches: bool) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    """``labcas-workflow-api serve`` with its default engine caches, or none; its process and a
    client."""
    off = {"LABCAS_ENGINE_CACHE_TTL": "0", "LABCAS_RUN_LIST_TTL": "0"}
    process, url = serve_api(env if caches else {**env, **off})
    token = mint_token(SECRET, "thomas")
    return process, httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="labcas-bench-"))
    s3 = start_seaweed(work / "s3", buckets=("labcas-staging", "edrn-data"))
    seed_demo_images(s3)
    airflow = AirflowServer(ensure_airflow_venv(), home=work / "airflow", extra_env=s3.env())
    api_process = None
    try:
        airflow.start()
        airflow.wait_ready()
        airflow.wait_for_dag("nebraska_demo")
        (work / "access.yml").write_text(EXAMPLE_CONFIG)
        env = engine_env(airflow, work / "access.yml", SECRET, **s3.env())
        api_process, api = start_api(env, caches=False)
        for _ in range(5):
            api.post("/workflows/nebraska_demo/runs", json={"in_data_selection": "nebraska_images"})
        while any(  # measure on a quiet Airflow: let the runs finish first
            r["status"] in ("queued", "running")
            for r in api.get("/workflows/nebraska_demo/runs").json()["runs"]
        ):
            time.sleep(2)
        direct = httpx.Client(
            base_url=airflow.url, headers={"Authorization": f"Bearer {airflow.token()}"}, timeout=30
        )
        pairs = {
            "workflow details": (
                "/workflows/nebraska_demo",
                "/api/v2/dags/nebraska_demo/details",
                {},
            ),
            "list my runs": (
                "/workflows/nebraska_demo/runs",
                "/api/v2/dags/nebraska_demo/dagRuns",
                {
                    "params": {
                        "run_id_prefix_pattern": "labcas__thomas__",
                        "conf_contains": '"thomas"',
                        "order_by": "-id",
                        "limit": 100,
                    }
                },
            ),
        }
        print(f"{args.requests} interleaved requests per call, keep-alive, after 20 warm-ups\n")
        timings: dict[str, dict[str, list[float]]] = {name: {} for name in pairs}
        for cache in ("cache off", "default cache"):
            if cache != "cache off":
                stop_api(api_process)
                api_process, api = start_api(env, caches=True)
            for name, (ours, theirs, extra) in pairs.items():
                rows = timings[name]
                for _ in range(20):
                    timed(api, ours)
                    timed_pair(direct, theirs, **extra)
                for _ in range(args.requests):
                    rows.setdefault(f"API, {cache}", []).append(timed(api, ours))
                    if cache == "cache off":
                        rows.setdefault("direct: DAG list + the call", []).append(
                            timed_pair(direct, theirs, **extra)
                        )
                    rows.setdefault(f"direct: the call ({cache} run)", []).append(
                        timed(direct, theirs, **extra)
                    )
        for name, rows in timings.items():
            print(f"{name}:")
            for label, values in rows.items():
                print(f"  {label:34} {summary(values)}")
            off = statistics.median(rows["API, cache off"])
            overhead = off - statistics.median(rows["direct: DAG list + the call"])
            cached = statistics.median(rows["API, default cache"]) - statistics.median(
                rows["direct: the call (default cache run)"]
            )
            print(f"  median overhead, cache off: {overhead:6.2f} ms (target <= 5 ms)")
            print(f"  default cache vs the direct call: {cached:+6.2f} ms\n")
        return 0
    finally:
        if api_process is not None:
            stop_api(api_process)
        airflow.stop()
        s3.stop()


if __name__ == "__main__":
    sys.exit(main())
