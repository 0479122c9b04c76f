"""Airflow stopped, slow or silent while the API is under steady requests.

During each fault every answer is a 2xx (served without Airflow) or a 503/504 problem+json,
none takes longer than the API's own timeouts allow, and afterwards the API recovers by itself.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.faults.conftest import ENGINE_CALLS, MIX, STORAGE_CALLS
from tests.faults.steady import Steady, bad_answers, summary
from tests.security.stack import Api, Stack

pytestmark = pytest.mark.integration

# engine_timeout is 3 s: one timed-out call, a token renewal or retries must stay below this
LIMIT = 10.0


def test_airflow_stopped_then_started_again(api: Api, stack: Stack) -> None:
    with Steady(api.url, api.headers("thomas"), MIX) as load:
        time.sleep(1.5)
        assert not [o for o in load.between(0) if not o.ok], summary(load.between(0))
        down = time.monotonic()
        try:
            stack.airflow.stop(grace=3)
            load.wait_for(lambda o: o.name in ENGINE_CALLS and o.status == 503, 30, since=down)
            time.sleep(3)
            ready = httpx.get(api.url + "/readyz", timeout=LIMIT)
            assert ready.status_code == 503
            assert ready.json()["checks"]["engine"] != "ok"
            assert ready.json()["checks"]["storage"] == "ok"
        finally:
            back = time.monotonic()
            stack.airflow.start()
            stack.airflow.wait_ready(timeout=180)
        during = load.between(down, back)
        recovered_after = load.wait_recovered(60, since=time.monotonic())
    print(
        f"\nAirflow down {back - down:.1f}s: {summary(during)}; recovered in {recovered_after:.1f}s"
    )
    assert not bad_answers(during, limit=LIMIT), bad_answers(during, limit=LIMIT)
    assert all(o.ok for o in during if o.name in STORAGE_CALLS), "outputs need no Airflow"
    assert httpx.get(api.url + "/readyz", timeout=LIMIT).status_code == 200


@pytest.mark.parametrize("delay", [0.5, 1.5])
def test_slow_airflow_is_slow_but_fine(api: Api, stack: Stack, delay: float) -> None:
    with Steady(api.url, api.headers("thomas"), MIX) as load:
        start = time.monotonic()
        stack.airflow_proxy.delay = delay
        time.sleep(6)
        stack.airflow_proxy.delay = 0
        during = load.between(start)
        load.wait_recovered(30, since=time.monotonic())
    print(f"\nAirflow {delay}s slower: {summary(during)}")
    assert not bad_answers(during, allowed=frozenset(), limit=LIMIT)
    slow = [o.elapsed for o in during if o.name in ENGINE_CALLS]
    assert slow and max(slow) >= delay


@pytest.mark.parametrize("mode", ["slower than the timeout", "silent"])
def test_airflow_too_slow_or_silent_is_a_timely_504(api: Api, stack: Stack, mode: str) -> None:
    with Steady(api.url, api.headers("thomas"), MIX) as load:
        start = time.monotonic()
        if mode == "silent":
            stack.airflow_proxy.hang = True
        else:
            stack.airflow_proxy.delay = 5
        load.wait_for(lambda o: o.name in ENGINE_CALLS and o.status == 504, 30, since=start)
        time.sleep(4)
        stack.airflow_proxy.reset()
        end = time.monotonic()
        during = load.between(start, end)
        recovered_after = load.wait_recovered(30, since=end)
    print(f"\nAirflow {mode}: {summary(during)}; recovered in {recovered_after:.1f}s")
    assert not bad_answers(during, limit=LIMIT), bad_answers(during, limit=LIMIT)
    engine = [o for o in during if o.name in ENGINE_CALLS and not o.ok]
    assert engine and all(o.status == 504 for o in engine), summary(engine)


def test_slow_airflow_does_not_stall_cached_answers(api: Api, stack: Stack) -> None:
    """Listings and workflow details come from a short-lived cache: while Airflow is slow,
    only the request that refreshes an entry waits for it; the others get the previous value."""
    cached = [c for c in MIX if c.name in ("data-selections", "workflows", "workflow")]
    with Steady(api.url, api.headers("thomas"), cached, clients=4) as load:
        time.sleep(1)
        start = time.monotonic()
        stack.airflow_proxy.delay = 1.5
        time.sleep(14)  # the 10 s cache entries expire and are refreshed at least once
        stack.airflow_proxy.delay = 0
        during = load.between(start)
    slow = [o for o in during if o.elapsed > 1.0]
    print(f"\nAirflow slow, cached answers: {summary(during)}; {len(slow)} waited for a refresh")
    assert not bad_answers(during, allowed=frozenset(), limit=LIMIT)
    assert len(during) > 200
    assert len(slow) <= 8, summary(slow)


def test_a_burst_opens_few_connections_to_airflow(api: Api, stack: Stack) -> None:
    """Thirty clients at once, each reading a run (always asked of Airflow): the API keeps at
    most MAX_CONNECTIONS requests open on Airflow and queues the rest, instead of moving the
    whole burst onto Airflow's small database pool."""
    from concurrent.futures import ThreadPoolExecutor

    from labcas_workflow_api.engines.airflow import MAX_CONNECTIONS

    with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
        started = http.post("/workflows/alpha/runs", json={"in_data_selection": "tiny"})
        assert started.status_code == 201, started.text
        path = f"/workflows/alpha/runs/{started.json()['run_id']}"
    stack.airflow_proxy.most_upstream = stack.airflow_proxy.open_upstream

    def read(_: int) -> int:
        with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
            return max(http.get(path).status_code for _ in range(5))

    with ThreadPoolExecutor(30) as pool:
        statuses = set(pool.map(read, range(30)))
    print(f"\n150 run reads from 30 clients: at most {stack.airflow_proxy.most_upstream} open")
    assert statuses == {200}
    assert stack.airflow_proxy.most_upstream <= MAX_CONNECTIONS


def test_a_stalled_airflow_does_not_starve_output_browsing(api: Api, stack: Stack) -> None:
    """Sixty requests wait on a silent Airflow, more than the default pool's 40 threads: they
    wait in the engine's own threads, and browsing outputs (S3 only) still answers at once."""
    from concurrent.futures import ThreadPoolExecutor

    def read_run(n: int) -> int:
        with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
            return http.get(f"/workflows/alpha/runs/labcas__thomas__stalled{n}").status_code

    stack.airflow_proxy.hang = True
    try:
        with ThreadPoolExecutor(60) as pool:
            waiting = [pool.submit(read_run, n) for n in range(60)]
            time.sleep(1)
            browsed = []
            with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
                for _ in range(5):
                    began = time.monotonic()
                    answer = http.get("/output-data/steady/")
                    browsed.append((answer.status_code, time.monotonic() - began))
            stalled = sum(not f.done() for f in waiting)
            statuses = {f.result() for f in waiting}
    finally:
        stack.airflow_proxy.reset()
    slowest = max(seconds for _, seconds in browsed)
    print(f"\n{stalled} of 60 run reads stalled on Airflow; outputs answered in {slowest:.3f} s")
    assert stalled >= 40, "the stall did not hold enough requests to fill the default pool"
    assert {status for status, _ in browsed} == {200}
    assert slowest < 1.0, browsed
    assert statuses <= {503, 504}, statuses
