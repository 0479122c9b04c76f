"""Cost of answering ``GET /workflows/{id}/runs`` with 500 runs, in process, over the unit
tests' in-memory engine: what building and serialising the answer costs per request.

The app is called through ``httpx.ASGITransport`` (no server, no sockets), so the figures are
the route, its models and FastAPI's serialisation: the wall-clock median and p95, and the CPU
time of the process per request (steadier than wall time on a busy machine). Run from the
repository root:

    PYTHONPATH=src:. python bench/wire_runs.py [--runs 500] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.domain.models import Run, RunStatus
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.settings import Settings
from tests.unit.fakes import SECRET, FakeEngine, FakeStore, write_config

STATUSES = list(RunStatus)


def app_with_runs(count: int, work: Path) -> object:
    engine = FakeEngine()
    began = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(count):
        stamp = (began + timedelta(minutes=i)).strftime("%Y%m%dT%H%M%S%f")
        run_id = f"labcas__thomas__{stamp}"
        status = STATUSES[i % len(STATUSES)]
        engine.runs[("nebraska_demo", run_id)] = Run(
            run_id,
            "nebraska_demo",
            status,
            start_time=began + timedelta(minutes=i),
            end_time=began + timedelta(minutes=i, seconds=42) if status.finished else None,
            conf={
                "in_data_selection": "nebraska_images",
                "tile_size": 64,
                "threshold_method": "otsu",
                "in_bucket": "edrn-data",
                "out_bucket": "labcas-staging",
                "out_prefix": f"thomas/{stamp}",
                "username": "thomas",
            },
        )
    settings = Settings(
        config=str(write_config(work)),
        jwt_secret=SECRET,
        staging_bucket="labcas-staging",
        run_list_ttl=3600,
        _env_file=None,  # type: ignore[call-arg]
    )
    return create_app(container=build_container(settings, engine=engine, store=FakeStore()))


async def measure(app: object, requests: int) -> tuple[list[float], float, int]:
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'thomas')}"}
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        url = "/workflows/nebraska_demo/runs"
        for _ in range(20):
            (await http.get(url, headers=headers)).raise_for_status()
        times = []
        size = 0
        cpu = time.process_time()
        for _ in range(requests):
            began = time.perf_counter()
            answer = await http.get(url, headers=headers)
            times.append((time.perf_counter() - began) * 1000)
            answer.raise_for_status()
            size = len(answer.content)
        cpu = (time.process_time() - cpu) / requests * 1000
    return times, cpu, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    app = app_with_runs(args.runs, Path(tempfile.mkdtemp(prefix="labcas-bench-")))
    times, cpu, size = asyncio.run(measure(app, args.requests))
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(
        f"GET /workflows/nebraska_demo/runs, {args.runs} runs ({size} bytes): "
        f"median {statistics.median(times):.2f} ms, p95 {p95:.2f} ms, "
        f"CPU {cpu:.2f} ms per request, over {args.requests}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
