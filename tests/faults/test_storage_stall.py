"""A storage stall does not starve the server (issue 10.9), on the real
``labcas-workflow-api serve``: with S3 silent and 60 output browses in flight (more than the
storage pool's 40 threads), ``/healthz`` (no thread) and engine calls (their own pool) keep
answering at once."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from labcas_workflow_api.auth.jwt import mint_token
from tests.security.stack import SECRET, Stack, serve_process

pytestmark = pytest.mark.integration

BROWSES = 60
PROBES = 200


def test_healthz_stays_fast_while_s3_hangs_under_60_browses(
    stack: Stack, fault_config: Path, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'thomas')}"}
    with serve_process(stack, fault_config, tmp_path) as served:
        stack.s3_proxy.hang = True
        stop = threading.Event()
        in_flight = 0
        lock = threading.Lock()

        def browse() -> None:
            nonlocal in_flight
            with httpx.Client(base_url=served.url, headers=headers, timeout=120) as http:
                while not stop.is_set():
                    with lock:
                        in_flight += 1
                    try:
                        http.get("/output-data/steady/")
                    except httpx.HTTPError:
                        pass
                    finally:
                        with lock:
                            in_flight -= 1

        browsers = [threading.Thread(target=browse, daemon=True) for _ in range(BROWSES)]
        for thread in browsers:
            thread.start()
        time.sleep(2)
        health: list[float] = []
        engine: list[float] = []
        busy: list[int] = []
        try:
            with httpx.Client(base_url=served.url, timeout=30) as http:
                for i in range(PROBES):
                    busy.append(in_flight)
                    t0 = time.perf_counter()
                    assert http.get("/healthz").status_code == 200
                    health.append(time.perf_counter() - t0)
                    if i % 20 == 0:
                        t0 = time.perf_counter()
                        answer = http.get("/workflows/alpha/runs", headers=headers)
                        assert answer.status_code == 200, answer.text
                        engine.append(time.perf_counter() - t0)
                    time.sleep(0.02)
        finally:
            stop.set()
            stack.s3_proxy.reset()
            for thread in browsers:
                thread.join(timeout=60)
    ordered = sorted(health)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(
        f"\nS3 silent, {min(busy)}-{max(busy)} browses in flight: /healthz x{len(health)} "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1] * 1000:.1f} ms; "
        f"run listings x{len(engine)} slowest {max(engine) * 1000:.0f} ms"
    )
    assert min(busy) >= BROWSES - 5, "the browses were waiting on S3 all along"
    assert p99 < 100, f"/healthz p99 {p99:.1f} ms"
    assert max(engine) < 5, "the engine's calls have their own threads"
