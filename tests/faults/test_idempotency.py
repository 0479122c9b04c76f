"""One Idempotency-Key, one run: across lost answers, timeouts, outages and concurrent retries.

Runs are counted in Airflow itself, not through the API under test.
"""

from __future__ import annotations

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
    assert lost.status_code in (502, 503), lost.text
    problem(lost)
    assert stack.airflow_proxy.dropped == 1
    created = airflow_runs(stack) - before
    assert len(created) == 1, "Airflow did start the run"
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
    assert late.status_code == 504, late.text
    problem(late)
    assert time.monotonic() - began < 6
    retried = start(http, api, key)
    assert retried.status_code == 201, retried.text
    created = airflow_runs(stack) - before
    assert created == {retried.json()["run_id"]}


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
