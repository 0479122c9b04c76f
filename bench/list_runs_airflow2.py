"""Listing one user's 100 runs among 2,000 runs of a DAG on Airflow 2 (``/api/v1``): time and
number of Airflow calls, through the engine and through the API.

Airflow 2's REST API cannot filter runs by run id or conf, so every run of the DAG is read and
filtered here; the engine reads them with ``POST /api/v1/dags/~/dagRuns/list`` (the DAG id,
newest first, uncapped page size) where ``GET .../dagRuns`` is capped at 100 a page. This
script starts Airflow 2.10 (cached virtualenv, own home, SQLite) and the API
(``LABCAS_ENGINE=airflow2``) on 127.0.0.1, pauses ``labcas_sleep`` and creates ``--runs`` runs of
it (``--mine`` for ``benchx``, as ``bench/list_runs.py`` does on Airflow 3), then prints, as
medians of interleaved repetitions after warm-ups:

- the engine's listing with batch pages of 100, 500 and 1,000 (the default), and with
  ``GET`` pages of 100, each with its number of Airflow calls;
- the same listing through ``mwaa`` (``InvokeRestApi`` answered by the local stand-in);
- ``GET /workflows/labcas_sleep/runs`` as ``benchx`` through the API;
- for scale, the single direct Airflow call returning all of the DAG's runs.

    python bench/list_runs_airflow2.py [--runs 2000] [--mine 100] [--repeat 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from list_runs import DAG, SECRET, USER, Counting, owners, start_api
from served import stop_api

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.devstack.airflow import AirflowServer
from labcas_workflow_api.devstack.airflow_venv import AIRFLOW2_VERSION, ensure_airflow_venv
from labcas_workflow_api.engines.airflow import V1, AirflowEngine
from labcas_workflow_api.engines.mwaa import mwaa_engine
from labcas_workflow_api.service.run_conf import run_id_prefix
from tests.support.mwaa import LocalMwaa


def create_runs(http: httpx.Client, total: int, mine: int) -> float:
    """Trigger ``total`` runs of the paused DAG (distinct logical dates, as v1 requires)."""
    began = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i, owner in enumerate(owners(total, mine)):
        when = base + timedelta(seconds=i)
        stamp = when.strftime("%Y%m%dT%H%M%S%f")
        conf = {
            "seconds": 0,
            "in_data_selection": "sleep_inputs",
            "in_bucket": "edrn-data",
            "in_prefix": "sleep_inputs/",
            "out_bucket": "labcas-staging",
            "out_prefix": f"{owner}/{stamp}",
            "username": owner,
        }
        body = {
            "dag_run_id": run_id_prefix(owner) + stamp,
            "conf": conf,
            "logical_date": when.isoformat(),
        }
        answer = http.post(f"/api/v1/dags/{DAG}/dagRuns", json=body)
        if answer.status_code not in (200, 409):
            raise RuntimeError(f"trigger {i} failed: {answer.status_code} {answer.text[:300]}")
        if (i + 1) % 500 == 0:
            print(f"  {i + 1} runs created ({time.perf_counter() - began:.0f} s)", flush=True)
    return time.perf_counter() - began


class Counted:
    """An engine whose Airflow requests are counted."""

    def __init__(self, engine_for: Callable[[httpx.BaseTransport], AirflowEngine]) -> None:
        self.transport = Counting()
        self.engine = engine_for(self.transport)

    @property
    def calls(self) -> int:
        return self.transport.calls

    def listing(self) -> Callable[[], int]:
        def run() -> int:
            before = self.calls
            runs = self.engine.list_user_runs(
                [DAG], username=USER, run_id_prefix=run_id_prefix(USER)
            )
            if len(runs) == 0:
                raise RuntimeError("no runs listed")
            return self.calls - before

        return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs of the DAG in all")
    parser.add_argument("--mine", type=int, default=100, help="runs of the listed user")
    parser.add_argument("--repeat", type=int, default=15, help="timed repetitions")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="labcas-bench-runs2-"))
    airflow = AirflowServer(
        ensure_airflow_venv(AIRFLOW2_VERSION), version=AIRFLOW2_VERSION, home=work / "airflow"
    )
    api_process = None
    try:
        print(f"starting Airflow {AIRFLOW2_VERSION} ...", flush=True)
        airflow.start()
        print(f"  ready after {airflow.wait_ready():.1f} s")
        airflow.wait_for_dag(DAG)
        direct = httpx.Client(base_url=airflow.url, headers=airflow.auth_headers(), timeout=120)
        direct.patch(f"/api/v1/dags/{DAG}", json={"is_paused": True}).raise_for_status()
        print(f"creating {args.runs} runs of the paused DAG {DAG} ({args.mine} of {USER}) ...")
        print(f"  done in {create_runs(direct, args.runs, args.mine):.0f} s\n")
        api_process, api_url = start_api(work, airflow)
        token = mint_token(SECRET, USER)
        api = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        shim = LocalMwaa(airflow, "bench-airflow2")

        def engine(
            transport: httpx.BaseTransport, size: int = 1000, batch: bool = True
        ) -> AirflowEngine:
            dialect = V1 if batch else replace(V1, batch_runs_path=None)
            return AirflowEngine(
                airflow.url,
                airflow.username,
                airflow.password,
                transport=transport,
                dialect=dialect,
                batch_page_size=size,
                timeout=60,
            )

        cases: dict[str, Callable[[], int]] = {
            "engine, batch pages of 1000 (default)": Counted(engine).listing(),
            "engine, batch pages of 500": Counted(lambda h: engine(h, 500)).listing(),
            "engine, batch pages of 100": Counted(lambda h: engine(h, 100)).listing(),
            "engine, GET pages of 100": Counted(lambda h: engine(h, batch=False)).listing(),
        }
        mwaa = mwaa_engine(shim.name, client=shim.client(), timeout=60)

        def through_mwaa() -> int:
            before = shim.calls.get("InvokeRestApi", 0)
            mwaa.list_user_runs([DAG], username=USER, run_id_prefix=run_id_prefix(USER))
            return shim.calls.get("InvokeRestApi", 0) - before

        cases["mwaa (InvokeRestApi stand-in), pages of 1000"] = through_mwaa

        def through_api() -> int:
            answer = api.get(f"/workflows/{DAG}/runs")
            answer.raise_for_status()
            if len(answer.json()["runs"]) != args.mine:
                raise RuntimeError(f"the API did not list the user's {args.mine} runs")
            return 0

        cases["API GET /workflows/labcas_sleep/runs"] = through_api

        def all_runs_at_once() -> int:
            body = {"dag_ids": [DAG], "page_limit": args.runs + 100}
            direct.post("/api/v1/dags/~/dagRuns/list", json=body).raise_for_status()
            return 1

        cases["direct: all runs in one batch call"] = all_runs_at_once

        samples: dict[str, list[float]] = {name: [] for name in cases}
        calls: dict[str, int] = {}
        for round_ in range(2 + args.repeat):
            for name, case in cases.items():
                began = time.perf_counter()
                calls[name] = case()
                if round_ >= 2:
                    samples[name].append((time.perf_counter() - began) * 1000)
        calls["API GET /workflows/labcas_sleep/runs"] = calls[
            "engine, batch pages of 1000 (default)"
        ]
        print(f"{args.repeat} interleaved repetitions after 2 warm-ups (keep-alive), medians:")
        for name, values in samples.items():
            median = statistics.median(values)
            print(f"  {name:<46} {median:8.1f} ms  {calls[name]:3d} Airflow call(s)")
        return 0
    finally:
        if api_process is not None:
            stop_api(api_process)
        airflow.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
