"""Following and controlling runs over HTTP: detail with tasks, task logs, cancel, paging."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.domain.models import Parameter, Run, RunStatus, TaskInstance
from tests.unit.fakes import FakeEngine

Auth = Callable[[str], dict[str, str]]
DEMO = "nebraska_demo"
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def add_run(
    engine: FakeEngine,
    user: str,
    n: int,
    status: RunStatus = RunStatus.RUNNING,
    workflow: str = DEMO,
) -> str:
    """A run of ``user`` queued ``n`` minutes after T0 (and started then unless queued)."""
    run_id = f"labcas__{user}__{n:04d}"
    when = T0 + timedelta(minutes=n)
    conf = {"username": user, "out_prefix": f"{user}/{n:04d}", "in_data_selection": "x"}
    start = None if status is RunStatus.QUEUED else when
    engine.runs[(workflow, run_id)] = Run(
        run_id, workflow, status, start_time=start, conf=conf, queued_at=when
    )
    return run_id


def url(run_id: str, tail: str = "") -> str:
    return f"/workflows/{DEMO}/runs/{run_id}{tail}"


def assert_problem(answer, status: int) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


HOSTILE_RUN_IDS = [
    "a%20b",
    "%2E%2E",
    "..%2F..%2Fetc",
    "x" * 251,
    "%00",
    "a;b",
    "run%0Aid",
    "%E2%80%AE",
]


class TestRunDetail:
    def test_owner_sees_tasks_in_engine_order_and_progress(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        run_id = add_run(engine, "thomas", 1)
        started = T0 + timedelta(seconds=5)
        engine.tasks[(DEMO, run_id)] = [
            TaskInstance("list_inputs", "success", started, started, 0.5, 1),
            TaskInstance("segment", "success", started, None, None, 1, map_index=0),
            TaskInstance("segment", "running", started, None, None, 2, map_index=1),
            TaskInstance("summarize", None),
        ]
        answer = client.get(url(run_id), headers=auth("thomas"))
        assert answer.status_code == 200
        body = answer.json()
        assert body["run_id"] == run_id and body["status"] == "running"
        assert body["output_url"] == "http://testserver/output-data/0001/"
        assert body["conf"] == {"in_data_selection": "x"}
        assert body["progress"] == {"done": 2, "total": 4}
        assert body["tasks"][0] == {
            "task_id": "list_inputs",
            "map_index": -1,
            "state": "success",
            "start_time": "2026-11-28T10:00:05+00:00",
            "end_time": "2026-11-28T10:00:05+00:00",
            "duration": 0.5,
            "try_number": 1,
        }
        assert [(t["task_id"], t["map_index"]) for t in body["tasks"]] == [
            ("list_inputs", -1),
            ("segment", 0),
            ("segment", 1),
            ("summarize", -1),
        ]
        assert body["tasks"][3]["state"] is None and body["tasks"][3]["try_number"] == 0

    def test_stage_path_gives_stage_links(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        run_id = add_run(engine, "thomas", 1)
        body = client.get("/dev" + url(run_id), headers=auth("thomas")).json()
        assert body["output_url"].startswith("http://testserver/dev/output-data/")

    def test_skipped_and_failed_tasks_count_as_done(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        run_id = add_run(engine, "thomas", 1, RunStatus.FAILED)
        engine.tasks[(DEMO, run_id)] = [
            TaskInstance("a", "failed", try_number=1),
            TaskInstance("b", "upstream_failed"),
            TaskInstance("c", "skipped"),
            TaskInstance("d", "up_for_retry", try_number=1),
        ]
        body = client.get(url(run_id), headers=auth("thomas")).json()
        assert body["progress"] == {"done": 3, "total": 4}

    def test_someone_elses_run_is_404_without_asking_for_its_tasks(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        run_id = add_run(engine, "thomas", 1)
        assert_problem(client.get(url(run_id), headers=auth("dliu")), 404)
        assert not [c for c in engine.calls if c[0] == "list_tasks"]

    def test_a_run_named_like_mine_but_started_for_someone_else_is_404(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        run_id = add_run(engine, "dliu", 1)
        engine.runs[(DEMO, "labcas__thomas__x")] = engine.runs[(DEMO, run_id)]
        assert_problem(client.get(url("labcas__thomas__x"), headers=auth("thomas")), 404)

    def test_unknown_run_and_invisible_workflow_are_404(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        assert_problem(client.get(url("labcas__thomas__nope"), headers=auth("thomas")), 404)
        run_id = add_run(engine, "eve", 1)
        assert_problem(client.get(url(run_id), headers=auth("mallory")), 404)

    def test_unauthenticated_is_401(self, client: TestClient, engine: FakeEngine) -> None:
        answer = client.get(url(add_run(engine, "thomas", 1)))
        assert_problem(answer, 401)
        assert answer.headers["www-authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS)
    def test_hostile_run_ids_are_refused(
        self, client: TestClient, auth: Auth, engine: FakeEngine, run_id: str
    ) -> None:
        answer = client.get(url(run_id), headers=auth("thomas"))
        assert answer.status_code in (400, 404)
        assert answer.headers["content-type"] == "application/problem+json"
        assert not [c for c in engine.calls if c[0] in ("get_run", "list_tasks")]


class TestTaskLog:
    @pytest.fixture
    def run_id(self, engine: FakeEngine) -> str:
        run_id = add_run(engine, "thomas", 1)
        engine.tasks[(DEMO, run_id)] = [
            TaskInstance("list_inputs", "success", try_number=2),
            TaskInstance("segment", "success", try_number=1, map_index=0),
            TaskInstance("segment", "running", try_number=2, map_index=1),
            TaskInstance("summarize", None),
        ]
        for n in (1, 2):
            engine.logs[(DEMO, run_id, "list_inputs", n, -1)] = f"try {n} of list_inputs\n".encode()
        engine.logs[(DEMO, run_id, "segment", 1, 0)] = b"segment 0 try 1\n"
        engine.logs[(DEMO, run_id, "segment", 1, 1)] = b"segment 1 try 1\n"
        engine.logs[(DEMO, run_id, "segment", 2, 1)] = b"segment 1 try 2\n"
        return run_id

    def log(self, client: TestClient, auth: Auth, run_id: str, task: str, query: str = ""):  # type: ignore[no-untyped-def]
        return client.get(url(run_id, f"/tasks/{task}/logs{query}"), headers=auth("thomas"))

    def test_latest_try_is_the_default(self, client: TestClient, auth: Auth, run_id: str) -> None:
        answer = self.log(client, auth, run_id, "list_inputs")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/plain; charset=utf-8"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"]  # once
        assert answer.text == "try 2 of list_inputs\n"

    def test_an_earlier_try(self, client: TestClient, auth: Auth, run_id: str) -> None:
        assert (
            self.log(client, auth, run_id, "list_inputs", "?try=1").text == "try 1 of list_inputs\n"
        )

    def test_a_mapped_task_gives_every_map_index_in_turn(
        self, client: TestClient, auth: Auth, run_id: str
    ) -> None:
        assert self.log(client, auth, run_id, "segment").text == (
            "--- segment, map index 0, try 1 ---\n"
            "segment 0 try 1\n"
            "--- segment, map index 1, try 2 ---\n"
            "segment 1 try 2\n"
        )

    def test_one_map_index_and_try_of_a_mapped_task(
        self, client: TestClient, auth: Auth, run_id: str
    ) -> None:
        answer = self.log(client, auth, run_id, "segment", "?map_index=1&try=1")
        assert answer.text == "segment 1 try 1\n"

    def test_a_missing_log_of_a_later_map_index_is_noted_in_the_text(
        self, client: TestClient, auth: Auth, engine: FakeEngine, run_id: str
    ) -> None:
        del engine.logs[(DEMO, run_id, "segment", 2, 1)]
        text = self.log(client, auth, run_id, "segment").text
        assert text.endswith("--- segment, map index 1, try 2 ---\n[no log: not found]\n")

    @pytest.mark.parametrize(
        ("task", "query", "words"),
        [
            ("ghost", "", "ghost"),
            ("list_inputs", "?try=3", "try 3"),
            ("segment", "?map_index=7", "map index 7"),
            ("summarize", "", "not started"),
        ],
    )
    def test_unknown_task_try_or_map_index_is_404(
        self, client: TestClient, auth: Auth, run_id: str, task: str, query: str, words: str
    ) -> None:
        answer = self.log(client, auth, run_id, task, query)
        assert_problem(answer, 404)
        assert words in answer.json()["detail"]

    @pytest.mark.parametrize(
        ("task", "query"),
        [
            ("list_inputs", "?try=0"),
            ("list_inputs", "?try=-1"),
            ("list_inputs", "?try=abc"),
            ("list_inputs", "?try=99999999999999999999"),
            ("segment", "?map_index=-1"),
            ("segment", "?map_index=x"),
            ("a%20b", ""),
            ("x" * 251, ""),
            ("%00", ""),
            ("%2E%2E", ""),
        ],
    )
    def test_hostile_parameters_are_refused(
        self,
        client: TestClient,
        auth: Auth,
        engine: FakeEngine,
        run_id: str,
        task: str,
        query: str,
    ) -> None:
        answer = self.log(client, auth, run_id, task, query)
        assert answer.status_code in (400, 404)
        assert answer.headers["content-type"] == "application/problem+json"
        assert not [c for c in engine.calls if c[0] == "task_log"]

    @pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS)
    def test_hostile_run_ids_are_refused(self, client: TestClient, auth: Auth, run_id: str) -> None:
        answer = self.log(client, auth, run_id, "list_inputs")
        assert answer.status_code in (400, 404)
        assert answer.headers["content-type"] == "application/problem+json"

    def test_someone_elses_run_is_404(
        self, client: TestClient, auth: Auth, engine: FakeEngine, run_id: str
    ) -> None:
        answer = client.get(url(run_id, "/tasks/list_inputs/logs"), headers=auth("dliu"))
        assert_problem(answer, 404)
        assert not [c for c in engine.calls if c[0] in ("task_log", "list_tasks")]

    def test_unauthenticated_is_401(self, client: TestClient, run_id: str) -> None:
        assert_problem(client.get(url(run_id, "/tasks/list_inputs/logs")), 401)


class TestCancel:
    def cancel(self, client: TestClient, auth: Auth, run_id: str, user: str = "thomas"):  # type: ignore[no-untyped-def]
        return client.post(url(run_id, "/cancel"), headers=auth(user))

    @pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING])
    def test_an_active_run_is_stopped(
        self, client: TestClient, auth: Auth, engine: FakeEngine, status: RunStatus
    ) -> None:
        run_id = add_run(engine, "thomas", 1, status)
        answer = self.cancel(client, auth, run_id)
        assert answer.status_code == 200
        body = answer.json()
        assert body["run_id"] == run_id and body["status"] == "cancelled"
        assert set(body) == {
            "run_id",
            "workflow_id",
            "status",
            "start_time",
            "end_time",
            "output_url",
            "output_folder",
            "web_url",
            "conf",
        }
        assert body["output_folder"] == "0001/"
        assert body["web_url"] == f"http://testserver/ui/#/run/{DEMO}/{run_id}"
        assert ("cancel_run", DEMO, run_id, "thomas") in engine.calls

    def test_cancelling_again_is_harmless(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        run_id = add_run(engine, "thomas", 1)
        first, second = self.cancel(client, auth, run_id), self.cancel(client, auth, run_id)
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()

    @pytest.mark.parametrize("status", [RunStatus.SUCCESS, RunStatus.FAILED])
    def test_a_finished_run_is_409(
        self, client: TestClient, auth: Auth, engine: FakeEngine, status: RunStatus
    ) -> None:
        run_id = add_run(engine, "thomas", 1, status)
        answer = self.cancel(client, auth, run_id)
        assert_problem(answer, 409)
        assert "finished" in answer.json()["detail"]

    def test_someone_elses_run_is_404_and_left_alone(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        run_id = add_run(engine, "thomas", 1)
        assert_problem(self.cancel(client, auth, run_id, user="dliu"), 404)
        assert_problem(self.cancel(client, auth, run_id, user="mallory"), 404)
        assert not [c for c in engine.calls if c[0] == "cancel_run"]
        assert engine.runs[(DEMO, run_id)].status is RunStatus.RUNNING

    def test_unknown_run_is_404(self, client: TestClient, auth: Auth) -> None:
        assert_problem(self.cancel(client, auth, "labcas__thomas__nope"), 404)

    @pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS)
    def test_hostile_run_ids_are_refused(
        self, client: TestClient, auth: Auth, engine: FakeEngine, run_id: str
    ) -> None:
        answer = self.cancel(client, auth, run_id)
        assert answer.status_code in (400, 404)
        assert answer.headers["content-type"] == "application/problem+json"
        assert not [c for c in engine.calls if c[0] == "cancel_run"]

    def test_get_is_not_allowed(self, client: TestClient, auth: Auth, engine: FakeEngine) -> None:
        run_id = add_run(engine, "thomas", 1)
        assert client.get(url(run_id, "/cancel"), headers=auth("thomas")).status_code == 405

    def test_unauthenticated_is_401(self, client: TestClient, engine: FakeEngine) -> None:
        run_id = add_run(engine, "thomas", 1)
        assert_problem(client.post(url(run_id, "/cancel")), 401)
        assert engine.runs[(DEMO, run_id)].status is RunStatus.RUNNING

    def test_cancel_and_refusal_are_audited(
        self,
        client: TestClient,
        auth: Auth,
        engine: FakeEngine,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level("INFO", logger="labcas_workflow_api.audit")
        run_id = add_run(engine, "thomas", 1)
        done = add_run(engine, "thomas", 2, RunStatus.SUCCESS)
        self.cancel(client, auth, run_id)
        self.cancel(client, auth, done)
        records = [
            json.loads(r.getMessage())
            for r in caplog.records
            if r.name == "labcas_workflow_api.audit"
        ]
        assert [(r["audit"], r["user"], r["run_id"], r["outcome"]) for r in records] == [
            ("run.cancel", "thomas", run_id, "ok"),
            ("run.cancel", "thomas", done, "refused 409"),
        ]
        assert records[0]["status"] == "cancelled" and records[0]["workflow"] == DEMO


class TestListRunsPaging:
    LIST = f"/workflows/{DEMO}/runs"

    @pytest.fixture
    def mine(self, engine: FakeEngine) -> list[str]:
        """Seven runs of thomas (newest first), with others' runs mixed in."""
        statuses = [RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.RUNNING, RunStatus.QUEUED]
        ids = [add_run(engine, "thomas", n, statuses[n % 4]) for n in range(7)]
        add_run(engine, "dliu", 3)
        add_run(engine, "thomasx", 4)
        return ids[::-1]

    def get(self, client: TestClient, auth: Auth, target: str, user: str = "thomas"):  # type: ignore[no-untyped-def]
        return client.get(target, headers=auth(user))

    def test_default_answer_is_every_run_and_no_next_link(
        self, client: TestClient, auth: Auth, mine: list[str]
    ) -> None:
        body = self.get(client, auth, self.LIST).json()
        assert set(body) == {"runs"}
        assert [r["run_id"] for r in body["runs"]] == mine

    def test_pages_follow_next_links_to_the_end(
        self, client: TestClient, auth: Auth, mine: list[str]
    ) -> None:
        seen, pages = [], 0
        target: str | None = self.LIST + "?limit=3"
        while target:
            body = self.get(client, auth, target).json()
            seen += [r["run_id"] for r in body["runs"]]
            target = body.get("next")
            pages += 1
            if target:
                assert target.startswith("http://testserver/workflows/nebraska_demo/runs?")
                assert parse_qs(urlsplit(target).query)["limit"] == ["3"]
        assert seen == mine and pages == 3

    def test_status_filter_with_paging(
        self, client: TestClient, auth: Auth, engine: FakeEngine, mine: list[str]
    ) -> None:
        running = [r for r in mine if engine.runs[(DEMO, r)].status is RunStatus.RUNNING]
        first = self.get(client, auth, self.LIST + "?status=running&limit=1").json()
        assert [r["run_id"] for r in first["runs"]] == running[:1]
        query = parse_qs(urlsplit(first["next"]).query)
        assert query["status"] == ["running"]
        second = self.get(client, auth, first["next"]).json()
        assert [r["run_id"] for r in second["runs"]] == running[1:2]
        assert "next" not in second
        asked = [c for c in engine.calls if c[0] == "list_user_runs"]
        assert asked and all(c[2:] == ("labcas__thomas__", RunStatus.RUNNING) for c in asked)
        assert all(DEMO in c[1] for c in asked)

    def test_status_filter_alone_keeps_every_matching_run(
        self, client: TestClient, auth: Auth, engine: FakeEngine, mine: list[str]
    ) -> None:
        body = self.get(client, auth, self.LIST + "?status=success").json()
        assert {r["status"] for r in body["runs"]} == {"success"}
        assert len(body["runs"]) == 2 and "next" not in body

    def test_runs_started_between_pages_do_not_shift_them(
        self, client: TestClient, auth: Auth, engine: FakeEngine, mine: list[str]
    ) -> None:
        first = self.get(client, auth, self.LIST + "?limit=3").json()
        add_run(engine, "thomas", 100)
        second = self.get(client, auth, first["next"]).json()
        assert [r["run_id"] for r in second["runs"]] == mine[3:6]

    def test_stage_path_gives_stage_next_links(
        self, client: TestClient, auth: Auth, mine: list[str]
    ) -> None:
        body = self.get(client, auth, "/dev" + self.LIST + "?limit=2").json()
        assert body["next"].startswith("http://testserver/dev/workflows/nebraska_demo/runs?")

    def test_a_limit_covering_everything_has_no_next_link(
        self, client: TestClient, auth: Auth, mine: list[str]
    ) -> None:
        body = self.get(client, auth, self.LIST + "?limit=7").json()
        assert len(body["runs"]) == 7 and "next" not in body

    @pytest.mark.parametrize(
        "query",
        [
            "status=exploded",
            "status=",
            "limit=0",
            "limit=1001",
            "limit=ten",
            "cursor=not-a-cursor",
            "cursor=" + "A" * 1025,
            "cursor=WyJ5ZXN0ZXJkYXkiLCJ4Il0",  # ["yesterday","x"]
            "cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwieCJd",  # a naive time
            "cursor=e30",  # {}
        ],
    )
    def test_bad_paging_parameters_are_400(
        self, client: TestClient, auth: Auth, mine: list[str], query: str
    ) -> None:
        assert_problem(self.get(client, auth, f"{self.LIST}?{query}"), 400)

    def test_cursors_do_not_leak_other_users_runs(
        self, client: TestClient, auth: Auth, mine: list[str]
    ) -> None:
        first = self.get(client, auth, self.LIST + "?limit=2").json()
        other = self.get(client, auth, first["next"], user="dliu").json()
        assert {r["run_id"] for r in other["runs"]} <= {"labcas__dliu__0003"}


class TestParameterDiscovery:
    def test_schema_keys_are_lifted_for_form_building(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        from dataclasses import replace

        from tests.unit.fakes import DEMO as DEMO_WORKFLOW

        engine.workflows[DEMO] = replace(
            DEMO_WORKFLOW,
            parameters={
                "label": Parameter(None, "A label", {"type": "string", "maxLength": 20}),
                "note": Parameter(None, None, {"type": ["null", "string"]}),
                "ratio": Parameter(0.5, None, {"type": "number", "exclusiveMaximum": 1}),
                "free": Parameter("x"),
            },
        )
        parameters = client.get(f"/workflows/{DEMO}", headers=auth("thomas")).json()["parameters"]
        assert parameters["label"] == {
            "type": "string",
            "maxLength": 20,
            "default": None,
            "description": "A label",
            "required": True,
            "schema": {"type": "string", "maxLength": 20},
        }
        assert parameters["note"]["required"] is False
        assert parameters["ratio"]["exclusiveMaximum"] == 1 and not parameters["ratio"]["required"]
        assert parameters["free"] == {
            "default": "x",
            "description": None,
            "required": False,
            "schema": {},
        }
