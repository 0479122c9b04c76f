"""Per-request overhead of the API over a direct Airflow call for the same data.

Starts SeaweedFS, Airflow 3 and the API (`labcas-workflow-api serve`, its own process) on
127.0.0.1, triggers a few runs, then times interleaved pairs of calls with keep-alive clients:

- GET /workflows/nebraska_demo            vs  GET /api/v2/dags/nebraska_demo/details
- GET /workflows/nebraska_demo/runs  vs  the same narrowed GET /api/v2/dags/nebraska_demo/dagRuns

and prints medians, p95s and the median overhead (target: at most 5 ms).

    python bench/api_overhead.py [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.devstack.airflow import AirflowServer, ensure_airflow_venv
from labcas_workflow_api.devstack.process import free_port
from labcas_workflow_api.devstack.seaweed import start_seaweed
from labcas_workflow_api.devstack.stack import EXAMPLE_CONFIG, seed_demo_images

SECRET = "bench-secret-0123456789abcdef-0123456789abcdef-0123"


def timed(http: httpx.Client, url: str, **kwargs: object) -> float:
    began = time.perf_counter()
    answer = http.get(url, **kwargs)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - began
    answer.raise_for_status()
    return elapsed * 1000


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(values):6.2f} ms  p95 {p95:6.2f} ms"


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
        port = free_port()
        env = {
            **os.environ,
            **s3.env(),
            "LABCAS_CONFIG": str(work / "access.yml"),
            "LABCAS_ENGINE_URL": airflow.url,
            "LABCAS_ENGINE_USERNAME": airflow.username,
            "LABCAS_ENGINE_PASSWORD": airflow.password,
            "LABCAS_JWT_SECRET": SECRET,
        }
        api_process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labcas_workflow_api.cli",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            start_new_session=True,
        )
        api_url = f"http://127.0.0.1:{port}"
        token = mint_token(SECRET, "thomas")
        api = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if api.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
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
        for name, (ours, theirs, extra) in pairs.items():
            for _ in range(20):
                timed(api, ours)
                timed(direct, theirs, **extra)
            api_times, direct_times = [], []
            for _ in range(args.requests):
                api_times.append(timed(api, ours))
                direct_times.append(timed(direct, theirs, **extra))
            overhead = statistics.median(api_times) - statistics.median(direct_times)
            print(f"{name}:")
            print(f"  direct Airflow  {summary(direct_times)}")
            print(f"  through the API {summary(api_times)}")
            print(f"  median overhead {overhead:6.2f} ms (target <= 5 ms)\n")
        return 0
    finally:
        if api_process is not None:
            api_process.terminate()
            api_process.wait(10)
        airflow.stop()
        s3.stop()


if __name__ == "__main__":
    sys.exit(main())
