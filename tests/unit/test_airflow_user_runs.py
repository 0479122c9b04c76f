"""The caller's runs across workflows in one engine listing (``list_user_runs``), and the
``cancelled`` status on every read, against scripted Airflows 3 and 2 (httpx.MockTransport)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from labcas_workflow_api.domain.models import RunStatus
from labcas_workflow_api.engines.airflow import CANCEL_NOTE, AirflowEngine
from tests.unit import test_airflow2_engine as v1
from tests.unit.test_airflow_engine import BASE, FakeAirflow, run

PREFIX = "labcas__thomas__"
NOTE = f"{CANCEL_NOTE} by thomas"
ACROSS = "/api/v2/dags/~/dagRuns"


def mine(run_id: str, dag_id: str, state: str = "success", **extra: Any) -> dict[str, Any]:
    return run(run_id, state, dag_id=dag_id, **extra)


class Airflow3(FakeAirflow):
    """Answers ``GET /dags/~/dagRuns`` as Airflow 3.3 does: every DAG's runs, narrowed by the
    run id prefix, the conf text and the states."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == ACROSS and request.method == "GET":
            self.requests.append(request)
            params = request.url.params
            runs = [
                r
                for r in self.runs
                if r["dag_run_id"].startswith(params.get("run_id_prefix_pattern", ""))
                and params.get("conf_contains", "") in json.dumps(r["conf"])
                and (not params.get_list("state") or r["state"] in params.get_list("state"))
            ]
            return self.page(request, runs, "dag_runs")
        return super().__call__(request)


@pytest.fixture
def airflow3() -> Airflow3:
    return Airflow3()


@pytest.fixture
def engine3(airflow3: Airflow3) -> AirflowEngine:
    return AirflowEngine(BASE, "admin", "secret", transport=httpx.MockTransport(airflow3))


class TestAcrossWorkflowsOnAirflow3:
    def test_one_listing_for_every_workflow_narrowed_to_the_user(
        self, airflow3: Airflow3, engine3: AirflowEngine
    ) -> None:
        airflow3.runs = [
            mine(f"{PREFIX}{i}", dag) for i, dag in enumerate(["a", "b", "c", "a", "b"])
        ]
        airflow3.runs += [mine("labcas__dliu__1", "a", conf={"username": "dliu"})]
        airflow3.runs += [mine(f"{PREFIX}9", "gone")]  # a workflow the caller may not run now
        runs = engine3.list_user_runs(["a", "b", "c"], username="thomas", run_id_prefix=PREFIX)
        assert sorted(r.run_id for r in runs) == [f"{PREFIX}{i}" for i in range(5)]
        listings = [r for r in airflow3.requests if r.url.path.startswith("/api/v2/dags/")]
        assert {r.url.path for r in listings} == {ACROSS}
        assert len(listings) == 2  # the user's 6 runs in Airflow's pages of 3
        params = listings[0].url.params
        assert params["run_id_prefix_pattern"] == PREFIX
        assert params["conf_contains"] == '"thomas"'
        assert params["order_by"] == "-id"

    def test_no_workflows_no_call(self, airflow3: Airflow3, engine3: AirflowEngine) -> None:
        assert engine3.list_user_runs([], username="thomas", run_id_prefix=PREFIX) == []
        assert airflow3.requests == []

    def test_cancelled_asks_for_failed_and_success_and_keeps_the_noted_ones(
        self, airflow3: Airflow3, engine3: AirflowEngine
    ) -> None:
        airflow3.runs = [
            mine(f"{PREFIX}1", "a", "failed", note=NOTE),
            mine(f"{PREFIX}2", "a", "success", note=NOTE),  # a racing scheduler's success
            mine(f"{PREFIX}3", "a", "failed"),
            mine(f"{PREFIX}4", "a", "success", note="looks good"),
        ]

        def listed(status: RunStatus) -> list[str]:
            runs = engine3.list_user_runs(
                ["a"], username="thomas", run_id_prefix=PREFIX, status=status
            )
            return sorted(r.run_id for r in runs)

        assert listed(RunStatus.CANCELLED) == [f"{PREFIX}1", f"{PREFIX}2"]
        assert airflow3.requests[-1].url.params.get_list("state") == ["failed", "success"]
        assert listed(RunStatus.FAILED) == [f"{PREFIX}3"]
        assert listed(RunStatus.SUCCESS) == [f"{PREFIX}4"]


class TestOneWorkflowReadsCancelled:
    @pytest.mark.parametrize(("state", "note"), [("failed", NOTE), ("success", NOTE)])
    def test_list_and_get_read_cancelled(
        self, airflow3: Airflow3, engine3: AirflowEngine, state: str, note: str
    ) -> None:
        airflow3.runs = [run(f"{PREFIX}1", state, note=note)]
        (listed,) = engine3.list_user_runs(
            ["nebraska_demo"], username="thomas", run_id_prefix=PREFIX
        )
        assert listed.status is RunStatus.CANCELLED
        assert engine3.get_run("nebraska_demo", f"{PREFIX}1").status is RunStatus.CANCELLED

    def test_a_run_still_going_with_the_note_is_not_cancelled_yet(
        self, airflow3: Airflow3, engine3: AirflowEngine
    ) -> None:
        airflow3.runs = [run(f"{PREFIX}1", "running", note=NOTE)]
        assert engine3.get_run("nebraska_demo", f"{PREFIX}1").status is RunStatus.RUNNING


class TestAcrossWorkflowsOnAirflow2:
    def test_one_batch_listing_of_the_workflows(self, airflow: v1.FakeAirflow2) -> None:
        airflow.runs = [
            {**v1.run(f"{PREFIX}{i}"), "dag_id": dag} for i, dag in enumerate(["a", "b", "c"] * 3)
        ]
        airflow.runs += [{**v1.run("labcas__dliu__1", "dliu"), "dag_id": "a"}]
        airflow.runs += [{**v1.run(f"{PREFIX}99"), "dag_id": "other"}]
        engine = v1.engine_for(airflow)
        runs = engine.list_user_runs(["c", "a", "b"], username="thomas", run_id_prefix=PREFIX)
        assert len(runs) == 9
        (call,) = airflow.requests
        body = json.loads(call.content)
        assert call.url.path == "/api/v1/dags/~/dagRuns/list"
        assert body["dag_ids"] == ["a", "b", "c"] and body["order_by"] == "-id"

    def test_cancelled_is_sent_as_two_states(self, airflow: v1.FakeAirflow2) -> None:
        airflow.runs = [
            {**v1.run(f"{PREFIX}1", state="failed"), "note": NOTE},
            {**v1.run(f"{PREFIX}2", state="failed")},
        ]
        engine = v1.engine_for(airflow)
        runs = engine.list_user_runs(
            [v1.DAG], username="thomas", run_id_prefix=PREFIX, status=RunStatus.CANCELLED
        )
        assert [r.run_id for r in runs] == [f"{PREFIX}1"]
        assert json.loads(airflow.requests[0].content)["states"] == ["failed", "success"]

    def test_no_workflows_no_call(self, airflow: v1.FakeAirflow2) -> None:
        engine = v1.engine_for(airflow)
        assert engine.list_user_runs([], username="thomas", run_id_prefix=PREFIX) == []
        assert airflow.requests == []


@pytest.fixture
def airflow() -> v1.FakeAirflow2:
    return v1.FakeAirflow2()
