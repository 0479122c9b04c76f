"""The Airflow 2 (``/api/v1``) dialect of the Airflow adapter against a scripted Airflow 2
(httpx.MockTransport), and the short-path fallbacks used over MWAA's ``InvokeRestApi``."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from labcas_workflow_api.domain.errors import (
    Conflict,
    InvalidParameters,
    NotFound,
    UpstreamBadResponse,
)
from labcas_workflow_api.domain.models import RunStatus
from labcas_workflow_api.engines.airflow import V1, V2, AirflowEngine

BASE = "http://airflow2.test"
DAG = "nebraska_demo"
BASIC = "Basic " + base64.b64encode(b"admin:secret").decode()


def run(run_id: str, user: str = "thomas", state: str = "success") -> dict[str, Any]:
    return {
        "dag_run_id": run_id,
        "dag_id": DAG,
        "state": state,
        "start_date": "2026-01-02T03:04:06+00:00",
        "end_date": None,
        "conf": {"username": user},
        "note": None,
    }


class FakeAirflow2:
    """Routes requests like Airflow 2.10's ``/api/v1`` (basic auth; batch run listing)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.runs: list[dict[str, Any]] = []
        self.task_instances: list[dict[str, Any]] = []
        self.routes: dict[tuple[str, str], Any] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, method = request.url.path, request.method
        if override := self.routes.get((method, path)):
            return override(request)  # type: ignore[no-any-return]
        if request.headers.get("Authorization") != BASIC:
            return httpx.Response(401, json={"detail": "Unauthorized", "status": 401})
        if path == f"/api/v1/dags/{DAG}":
            return httpx.Response(200, json={"dag_id": DAG, "is_paused": False})
        if path == f"/api/v1/dags/{DAG}/details":
            interval = {"__type": "CronExpression", "value": "0 6 * * *"}
            return httpx.Response(
                200,
                json={"dag_id": DAG, "schedule_interval": interval, "timetable_description": "x"},
            )
        if path == "/api/v1/dags/~/dagRuns/list" and method == "POST":
            body = json.loads(request.content)
            runs = [r for r in self.runs if r["dag_id"] in (body.get("dag_ids") or [r["dag_id"]])]
            if body.get("states"):
                runs = [r for r in runs if r["state"] in body["states"]]
            offset, limit = body.get("page_offset", 0), body.get("page_limit", 100)
            page = runs[offset : offset + limit]
            return httpx.Response(200, json={"dag_runs": page, "total_entries": len(runs)})
        if path == f"/api/v1/dags/{DAG}/dagRuns" and method == "POST":
            body = json.loads(request.content)
            if any(r["dag_run_id"] == body["dag_run_id"] for r in self.runs):
                return httpx.Response(409, json={"detail": "already exists", "status": 409})
            created = {**run(body["dag_run_id"], state="queued"), "conf": body["conf"]}
            self.runs.append(created)
            return httpx.Response(200, json=created)
        if path == "/api/v1/dags/~/dagRuns/~/taskInstances/list" and method == "POST":
            body = json.loads(request.content)
            tis = [t for t in self.task_instances if t["dag_run_id"] in body["dag_run_ids"]]
            return httpx.Response(200, json={"task_instances": tis, "total_entries": len(tis)})
        if path.startswith(f"/api/v1/dags/{DAG}/dagRuns/"):
            run_id = unquote(request.url.raw_path.decode().split("/")[6])
            if path.endswith("/taskInstances"):
                tis = [t for t in self.task_instances if t["dag_run_id"] == run_id]
                return httpx.Response(200, json={"task_instances": tis, "total_entries": len(tis)})
            for item in self.runs:
                if item["dag_run_id"] == run_id:
                    return httpx.Response(200, json=item)
        if path == f"/api/v1/dags/{DAG}/tasks":
            tasks = [{"task_id": "only", "downstream_task_ids": []}]
            return httpx.Response(200, json={"tasks": tasks, "total_entries": 1})
        return httpx.Response(404, json={"detail": f"{path} not found", "status": 404})

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


@pytest.fixture
def airflow() -> FakeAirflow2:
    return FakeAirflow2()


def engine_for(airflow: FakeAirflow2, **options: Any) -> AirflowEngine:
    transport = httpx.MockTransport(airflow)
    return AirflowEngine(
        BASE,
        "admin",
        "secret",
        api_version="v1",
        transport=transport,
        sleep=lambda _: None,
        **options,
    )


@pytest.fixture
def engine(airflow: FakeAirflow2) -> AirflowEngine:
    return engine_for(airflow, batch_page_size=3)


class TestBasicAuth:
    def test_every_call_carries_basic_credentials_and_no_token_is_fetched(
        self, airflow: FakeAirflow2, engine: AirflowEngine
    ) -> None:
        engine.get_workflow(DAG)
        assert [r.headers["Authorization"] for r in airflow.requests] == [BASIC]
        assert not airflow.calls("POST", "/auth/token")

    def test_refused_credentials_are_a_bad_upstream_response_at_once(
        self, airflow: FakeAirflow2
    ) -> None:
        transport = httpx.MockTransport(airflow)
        engine = AirflowEngine(BASE, "admin", "wrong", api_version="v1", transport=transport)
        with pytest.raises(UpstreamBadResponse, match="401"):
            engine.get_workflow(DAG)
        assert len(airflow.requests) == 1  # basic credentials have nothing to renew


class TestWorkflows:
    def test_schedule_comes_from_the_schedule_interval(self, engine: AirflowEngine) -> None:
        assert engine.get_workflow(DAG).schedule == "0 6 * * *"

    def test_v1_paths(self, airflow: FakeAirflow2, engine: AirflowEngine) -> None:
        engine.get_workflow(DAG)
        assert airflow.requests[-1].url.path == "/api/v1/dags/nebraska_demo/details"


class TestTrigger:
    def test_trigger_sends_run_id_and_conf_without_a_logical_date(
        self, airflow: FakeAirflow2, engine: AirflowEngine
    ) -> None:
        engine.trigger_run(DAG, "labcas__thomas__1", {"username": "thomas"})
        assert json.loads(airflow.requests[-1].content) == {
            "dag_run_id": "labcas__thomas__1",
            "conf": {"username": "thomas"},
        }

    def test_existing_run_is_a_conflict(self, airflow: FakeAirflow2, engine: AirflowEngine) -> None:
        airflow.runs = [run("labcas__thomas__1")]
        with pytest.raises(Conflict):
            engine.trigger_run(DAG, "labcas__thomas__1", {})

    def test_params_refused_by_airflow_2_are_invalid_parameters(
        self, airflow: FakeAirflow2, engine: AirflowEngine
    ) -> None:
        detail = "Invalid input for param tile_size: 2 is less than the minimum of 8"
        airflow.routes["POST", f"/api/v1/dags/{DAG}/dagRuns"] = lambda r: httpx.Response(
            400, json={"detail": detail, "status": 400, "title": "Bad Request"}
        )
        with pytest.raises(InvalidParameters, match="tile_size"):
            engine.trigger_run(DAG, "r", {"tile_size": 2})


class TestListRuns:
    def test_reads_every_run_of_the_dag_in_batch_pages_and_keeps_the_users(
        self, airflow: FakeAirflow2, engine: AirflowEngine
    ) -> None:
        airflow.runs = [
            run("labcas__thomas__1"),
            run("labcas__dliu__1", "dliu"),
            run("labcas__thomas__2"),
            run("labcas__thomasx__1", "thomasx"),
            run("labcas__thomas__3", "mallory"),
            run("manual__1", "thomas"),
            run("labcas__thomas__4", state="running"),
        ]
        runs = engine.list_user_runs([DAG], username="thomas", run_id_prefix="labcas__thomas__")
        assert [r.run_id for r in runs] == [
            "labcas__thomas__1",
            "labcas__thomas__2",
            "labcas__thomas__4",
        ]
        pages = [
            json.loads(r.content) for r in airflow.calls("POST", "/api/v1/dags/~/dagRuns/list")
        ]
        assert [(p["page_offset"], p["page_limit"]) for p in pages] == [(0, 3), (3, 3), (6, 3)]
        assert all(p["dag_ids"] == [DAG] and p["order_by"] == "-id" for p in pages)
        assert not airflow.calls("GET", f"/api/v1/dags/{DAG}/dagRuns")

    def test_status_filter_is_sent_as_states(
        self, airflow: FakeAirflow2, engine: AirflowEngine
    ) -> None:
        airflow.runs = [run("labcas__thomas__1"), run("labcas__thomas__2", state="running")]
        runs = engine.list_user_runs(
            [DAG], username="thomas", run_id_prefix="labcas__thomas__", status=RunStatus.RUNNING
        )
        assert [r.run_id for r in runs] == ["labcas__thomas__2"]
        page = json.loads(airflow.calls("POST", "/api/v1/dags/~/dagRuns/list")[0].content)
        assert page["states"] == ["running"]

    def test_a_dag_without_runs_costs_one_call(
        self, airflow: FakeAirflow2, engine: AirflowEngine
    ) -> None:
        runs = engine.list_user_runs([DAG], username="thomas", run_id_prefix="labcas__thomas__")
        assert runs == [] and len(airflow.requests) == 1

    def test_unknown_dag_has_no_runs(self, airflow: FakeAirflow2, engine: AirflowEngine) -> None:
        airflow.runs = [run("labcas__thomas__1")]
        runs = engine.list_user_runs(["nope"], username="thomas", run_id_prefix="labcas__thomas__")
        assert runs == []

    def test_one_large_page_by_default(self, airflow: FakeAirflow2) -> None:
        airflow.runs = [run(f"labcas__thomas__{i}") for i in range(1500)]
        engine = engine_for(airflow)
        runs = engine.list_user_runs([DAG], username="thomas", run_id_prefix="labcas__thomas__")
        assert len(runs) == 1500
        assert len(airflow.requests) == 2


class TestTasks:
    def test_tasks_of_an_unknown_run_are_not_found_though_airflow_2_lists_none(
        self, airflow: FakeAirflow2, engine: AirflowEngine
    ) -> None:
        with pytest.raises(NotFound):
            engine.list_tasks(DAG, "labcas__thomas__nope")


class TestShortPaths:
    """Over MWAA's InvokeRestApi (paths of 64 characters at most) reads go through listings."""

    RUN = "labcas__thomas__20261128T101010123456"  # its run path has 65 characters

    def short(self, airflow: FakeAirflow2) -> AirflowEngine:
        return engine_for(airflow, batch_page_size=2, dialect=replace(V1, max_path=64))

    def test_get_run_pages_through_the_batch_listing(self, airflow: FakeAirflow2) -> None:
        airflow.runs = [run(f"labcas__thomas__{i}") for i in range(3)] + [run(self.RUN)]
        got = self.short(airflow).get_run(DAG, self.RUN)
        assert got.run_id == self.RUN
        assert all(len(r.url.path) - len("/api/v1") <= 64 for r in airflow.requests)
        assert len(airflow.calls("POST", "/api/v1/dags/~/dagRuns/list")) == 2

    def test_unknown_run_is_not_found(self, airflow: FakeAirflow2) -> None:
        airflow.runs = [run("labcas__thomas__1")]
        with pytest.raises(NotFound):
            self.short(airflow).get_run(DAG, self.RUN)

    def test_a_short_path_is_read_directly(self, airflow: FakeAirflow2) -> None:
        airflow.runs = [run("labcas__thomas__1")]
        self.short(airflow).get_run(DAG, "labcas__thomas__1")
        assert [r.method for r in airflow.requests] == ["GET"]

    def test_tasks_come_from_the_batch_task_instance_listing(self, airflow: FakeAirflow2) -> None:
        airflow.runs = [run(self.RUN)]
        ti = {"task_id": "only", "dag_run_id": self.RUN, "state": "success", "try_number": 2}
        airflow.task_instances = [ti]
        (task,) = self.short(airflow).list_tasks(DAG, self.RUN)
        assert (task.task_id, task.state, task.try_number) == ("only", "success", 2)
        listing = airflow.calls("POST", "/api/v1/dags/~/dagRuns/~/taskInstances/list")
        body = json.loads(listing[0].content)
        assert (body["dag_ids"], body["dag_run_ids"]) == ([DAG], [self.RUN])

    def test_airflow_3_narrows_by_run_id_prefix(self) -> None:
        seen: list[httpx.Request] = []

        def airflow3(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            if request.url.path == "/auth/token":
                return httpx.Response(201, json={"access_token": "t"})
            item = {**run(self.RUN), "dag_run_id": self.RUN}
            return httpx.Response(200, json={"dag_runs": [item], "total_entries": 1})

        transport = httpx.MockTransport(airflow3)
        dialect = replace(V2, max_path=64)
        engine = AirflowEngine(BASE, "admin", "secret", transport=transport, dialect=dialect)
        assert engine.get_run(DAG, self.RUN).run_id == self.RUN
        assert seen[-1].url.path == f"/api/v2/dags/{DAG}/dagRuns"
        assert seen[-1].url.params["run_id_prefix_pattern"] == self.RUN
