"""One Idempotency-Key, one run: across lost answers, timeouts, outages and concurrent retries.

Runs are counted in Airflow itself, not through the API under test.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.security.stack import Api, Stack, problem

pytestmark = pytest.mark.integration

TRIGGER = r"^POST /api/v2/dags/alpha/dagRuns "
BODY = {"in_data_selection": "tiny", "note": "idempotency"}


def airflow_runs(stack: Stack, user: str = "thomas") -> set[str]:
    """Run ids of ``user`` for DAG alpha, straight from Airflow."""
    with httpx.Client(base_url=stack.airflow.url, timeout=30) as http:
        token = stack.airflow.token(http)
        answer = http.get(
            "/api/v2/dags/alpha/dagRuns",
            params={"run_id_pattern": f"labcas__{user}__%", "limit": 1000},
            headers={"Authorization": f"Bearer {token}"},
        )
        answer.raise_for_status()
        return {r["dag_run_id"] for r in answer.json()["dag_runs"]}


def start(http: httpx.Client, api: Api, key: str) -> httpx.Response:
    return http.post(
        "/workflows/alpha/runs",
        json=BODY,
        headers={**api.headers("thomas"), "Idempotency-Key": key},
    )


@pytest.fixture
def http(api: Api) -> httpx.Client:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        yield client


def test_the_answer_to_the_trigger_is_lost(api: Api, stack: Stack, http: httpx.Client) -> None:
    key = str(uuid.uuid4())
    before = airflow_runs(stack)
    stack.airflow_proxy.drop_response(TRIGGER)
    lost = start(http, api, key)
    assert stack.airflow_proxy.dropped == 1
    created = airflow_runs(stack) - before
    assert len(created) == 1, "Airflow did start the run"
    # the API looked the run up after losing the answer: the caller is told it started
    assert lost.status_code == 201, lost.text
    assert lost.json()["run_id"] == next(iter(created))
    retried = start(http, api, key)
    assert retried.status_code == 201, retried.text
    assert retried.headers.get("Idempotency-Replayed") == "true"
    assert retried.json()["run_id"] == created.pop()
    assert len(airflow_runs(stack) - before) == 1


def test_the_trigger_answers_after_our_timeout(api: Api, stack: Stack, http: httpx.Client) -> None:
    key = str(uuid.uuid4())
    before = airflow_runs(stack)
    stack.airflow_proxy.delay_response(TRIGGER, 5)  # engine_timeout is 3 s
    began = time.monotonic()
    late = start(http, api, key)
    # the trigger timed out, then the API found the run Airflow had made meanwhile
    assert late.status_code == 201, late.text
    assert time.monotonic() - began < 8
    retried = start(http, api, key)
    assert retried.status_code == 201, retried.text
    assert retried.headers.get("Idempotency-Replayed") == "true"
    created = airflow_runs(stack) - before
    assert created == {late.json()["run_id"]} == {retried.json()["run_id"]}


def test_airflow_unreachable_then_back(api: Api, stack: Stack, http: httpx.Client) -> None:
    key = str(uuid.uuid4())
    before = airflow_runs(stack)
    api.container.catalog.deployed()  # warm the catalog so the start reaches the trigger
    stack.airflow_proxy.down()
    try:
        for _ in range(3):
            refused = start(http, api, key)
            assert refused.status_code == 503, refused.text
            problem(refused)
    finally:
        stack.airflow_proxy.up()
    assert airflow_runs(stack) == before
    first = start(http, api, key)
    assert first.status_code == 201 and "Idempotency-Replayed" not in first.headers
    again = start(http, api, key)
    assert again.status_code == 201 and again.headers.get("Idempotency-Replayed") == "true"
    assert again.json()["run_id"] == first.json()["run_id"]
    assert airflow_runs(stack) - before == {first.json()["run_id"]}


def test_concurrent_retries_start_one_run(api: Api, stack: Stack) -> None:
    """Ten clients send the same request at once and retry on 5xx, as a client should. Airflow
    on SQLite may be too slow for some of them (a 504 after the 3 s timeout); in the end they
    all hold the same run, and Airflow has exactly one. (Within one API process the ten share
    one trigger; across processes, Airflow's unique run id decides and the others replay.)"""
    key = str(uuid.uuid4())
    before = airflow_runs(stack)

    def attempt(_: int) -> list[httpx.Response]:
        answers = []
        with httpx.Client(base_url=api.url, timeout=30) as client:
            for _ in range(8):
                answers.append(start(client, api, key))
                if answers[-1].status_code < 500:
                    break
                time.sleep(1)
        return answers

    with ThreadPoolExecutor(10) as pool:
        histories = list(pool.map(attempt, range(10)))
    for history in histories:
        for answer in history[:-1]:
            assert answer.status_code in (503, 504), answer.text
            problem(answer)
    finals = [history[-1] for history in histories]
    assert {a.status_code for a in finals} == {201}, [a.text for a in finals]
    run_ids = {a.json()["run_id"] for a in finals}
    assert len(run_ids) == 1
    assert airflow_runs(stack) - before == run_ids
    retries = sum(len(h) - 1 for h in histories)
    print(f"\n10 concurrent clients, {retries} retries after a 5xx, one run")


def test_the_same_key_with_another_body_is_refused(
    api: Api, stack: Stack, http: httpx.Client
) -> None:
    key = str(uuid.uuid4())
    before = airflow_runs(stack)
    assert start(http, api, key).status_code == 201
    other = http.post(
        "/workflows/alpha/runs",
        json={**BODY, "note": "another request"},
        headers={**api.headers("thomas"), "Idempotency-Key": key},
    )
    assert other.status_code == 422, other.text
    assert problem(other)["detail"] == "idempotency key reused with a different request"
    assert len(airflow_runs(stack) - before) == 1


def test_unkeyed_starts_on_a_slow_airflow_leave_no_ghost_runs(
    api: Api, stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """Twenty concurrent starts without a key while Airflow answers each trigger after the
    API's timeout: every run Airflow made is one its caller was told of — started (201, the
    API looked it up after the timeout), or named in the 5xx problem as a run that may still
    start (Airflow was still processing it) — and every start that reached Airflow is in the
    audit trail with its run id."""
    caplog.set_level("INFO", logger="labcas_workflow_api.audit")
    before = airflow_runs(stack)
    for _ in range(20):
        stack.airflow_proxy.delay_response(TRIGGER, 4)  # engine_timeout is 3 s

    def one(_: int) -> httpx.Response:
        # twenty starts queue behind the API's engine threads: on a loaded machine the last
        # answers come after a minute (what they say is what is checked, not how soon)
        with httpx.Client(base_url=api.url, timeout=180) as client:
            return client.post("/workflows/alpha/runs", json=BODY, headers=api.headers("thomas"))

    try:
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(one, range(20)))
    finally:
        stack.airflow_proxy.reset()
    created = airflow_runs(stack) - before
    told = {a.json()["run_id"] for a in answers if a.status_code == 201}
    named = {problem(a).get("run_id") for a in answers if a.status_code != 201}
    assert created <= told | named, f"runs nobody was told of: {created - told - named}"
    starts = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "labcas_workflow_api.audit" and '"run.start"' in r.getMessage()
    ]
    audited = {r["run_id"] for r in starts if "run_id" in r}
    assert created <= audited
    statuses = sorted(a.status_code for a in answers)
    print(
        f"\n20 unkeyed starts on a slow Airflow: {statuses}; {len(created)} runs, "
        f"{len(created & told)} answered 201, {len(created & named)} named in a problem"
    )


def test_a_key_belongs_to_its_user_and_workflow(api: Api, stack: Stack, http: httpx.Client) -> None:
    key = str(uuid.uuid4())
    mine = start(http, api, key).json()["run_id"]
    theirs = http.post(
        "/workflows/alpha/runs",
        json=BODY,
        headers={**api.headers("dliu"), "Idempotency-Key": key},
    )
    other_workflow = http.post(
        "/workflows/beta/runs",
        json=BODY,
        headers={**api.headers("thomas"), "Idempotency-Key": key},
    )
    assert theirs.status_code == other_workflow.status_code == 201
    assert "Idempotency-Replayed" not in theirs.headers
    assert "Idempotency-Replayed" not in other_workflow.headers
    assert len({mine, theirs.json()["run_id"], other_workflow.json()["run_id"]}) == 3
