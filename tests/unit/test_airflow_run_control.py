"""The Airflow adapter's run control (tasks, logs, cancel, status filter) against a scripted
Airflow 3 (httpx.MockTransport)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx
import pytest

from labcas_workflow_api.domain.errors import Conflict, NotFound, UpstreamBadResponse
from labcas_workflow_api.domain.models import RunStatus, TaskInstance
from labcas_workflow_api.engines.airflow import CANCEL_NOTE, V2, AirflowEngine
from tests.unit.test_airflow_engine import BASE, FakeAirflow, always, raising, run

RUN = "labcas__thomas__1"
RUN_PATH = f"/api/v2/dags/nebraska_demo/dagRuns/{RUN}"
TASKS_PATH = "/api/v2/dags/nebraska_demo/tasks"
TIS_PATH = RUN_PATH + "/taskInstances"


def task(task_id: str, *downstream: str) -> dict[str, Any]:
    return {"task_id": task_id, "downstream_task_ids": list(downstream)}


def ti(task_id: str, state: str | None = "success", **extra: Any) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "map_index": -1,
        "state": state,
        "start_date": "2026-01-02T03:04:06Z",
        "end_date": "2026-01-02T03:04:08.5Z",
        "duration": 2.5,
        "try_number": 1,
        **extra,
    }


@pytest.fixture
def airflow() -> FakeAirflow:
    return FakeAirflow()


@pytest.fixture
def engine(airflow: FakeAirflow) -> AirflowEngine:
    transport = httpx.MockTransport(airflow)
    return AirflowEngine(
        BASE, "admin", "secret", transport=transport, page_size=2, sleep=lambda _: None
    )


class TestListTasks:
    DAG = [task("summarize"), task("list_inputs", "segment"), task("segment", "summarize")]

    def serve(self, airflow: FakeAirflow, instances: list[dict[str, Any]]) -> None:
        airflow.routes["GET", TASKS_PATH] = always(200, {"tasks": self.DAG, "total_entries": 3})
        airflow.routes["GET", TIS_PATH] = lambda r: FakeAirflow.page(r, instances, "task_instances")

    def test_tasks_come_in_dag_order_with_mapped_instances_in_order(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        self.serve(
            airflow,
            [
                ti("summarize", None, try_number=0, start_date=None, end_date=None, duration=None),
                ti("segment", "running", map_index=1, end_date=None, duration=None),
                ti("list_inputs"),
                ti("segment", map_index=0, try_number=2),
            ],
        )
        tasks = engine.list_tasks("nebraska_demo", RUN)
        assert [(t.task_id, t.map_index) for t in tasks] == [
            ("list_inputs", -1),
            ("segment", 0),
            ("segment", 1),
            ("summarize", -1),
        ]
        first = tasks[0]
        assert first.state == "success" and first.finished
        assert first.start_time is not None and first.start_time.second == 6
        assert first.end_time is not None and first.end_time.microsecond == 500000
        assert (first.duration, first.try_number) == (2.5, 1)
        assert tasks[1].try_number == 2
        assert tasks[2].state == "running" and not tasks[2].finished
        assert tasks[3] == TaskInstance("summarize", None, try_number=0)

    def test_tasks_not_created_yet_are_listed_waiting(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        self.serve(airflow, [])
        tasks = engine.list_tasks("nebraska_demo", RUN)
        assert tasks == [
            TaskInstance("list_inputs"),
            TaskInstance("segment"),
            TaskInstance("summarize"),
        ]

    def test_instances_of_tasks_gone_from_the_dag_come_last(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        self.serve(airflow, [ti("old_task"), ti("list_inputs"), ti("segment"), ti("summarize")])
        tasks = engine.list_tasks("nebraska_demo", RUN)
        assert [t.task_id for t in tasks] == ["list_inputs", "segment", "summarize", "old_task"]

    def test_ties_and_a_cycle_fall_back_to_task_id_order(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        self.DAG = [
            task("c"),
            task("b", "z"),
            task("a", "z"),
            task("x", "y"),
            task("y", "x"),
            task("z"),
        ]
        self.serve(airflow, [])
        assert [t.task_id for t in engine.list_tasks("nebraska_demo", RUN)] == [
            "a",
            "b",
            "c",
            "z",
            "x",
            "y",
        ]

    def test_unknown_run_is_not_found(self, engine: AirflowEngine) -> None:
        with pytest.raises(NotFound):
            engine.list_tasks("nebraska_demo", "nope")

    @pytest.mark.parametrize(
        "bad",
        [
            {"task_id": None, "state": "success"},
            {"task_id": "t", "state": 3},
            {"task_id": "t", "state": "success", "start_date": "soon"},
        ],
    )
    def test_malformed_task_instances_are_bad_upstream_responses(
        self, airflow: FakeAirflow, engine: AirflowEngine, bad: dict[str, Any]
    ) -> None:
        self.serve(airflow, [bad])
        with pytest.raises(UpstreamBadResponse):
            engine.list_tasks("nebraska_demo", RUN)

    def test_task_list_without_its_key_is_a_bad_upstream_response(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        self.serve(airflow, [])
        airflow.routes["GET", TASKS_PATH] = always(200, {"items": []})
        with pytest.raises(UpstreamBadResponse, match="tasks"):
            engine.list_tasks("nebraska_demo", RUN)


def ndjson(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


class TestTaskLog:
    def serve(self, airflow: FakeAirflow, body: str, status: int = 200) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(status, text=body)

        airflow.routes["GET", TIS_PATH + "/segment/logs/2"] = handler
        return seen

    def test_structured_records_become_classic_text_lines(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        seen = self.serve(
            airflow,
            ndjson(
                {"event": "::group::Log message source details", "sources": ["/logs/a.log"]},
                {
                    "timestamp": "2026-01-02T03:04:05Z",
                    "event": "waited 1 of 3 seconds",
                    "level": "info",
                    "logger": "unusual_prefix_abc",
                    "filename": "labcas_sleep.py",
                    "lineno": 51,
                    "dag_id": "nebraska_demo",
                    "ti_id": "x",
                    "try_number": 2,
                    "bytes": 12,
                },
                {"timestamp": "2026-01-02T03:04:06Z", "event": "Task did not run"},
            )
            + "not json\n\n",
        )
        chunks = list(engine.task_log("nebraska_demo", RUN, "segment", 2, map_index=3))
        assert all(isinstance(c, bytes) for c in chunks)
        assert b"".join(chunks).decode() == (
            "::group::Log message source details\n"
            "  /logs/a.log\n"
            "[2026-01-02T03:04:05Z] {labcas_sleep.py:51} INFO - waited 1 of 3 seconds bytes=12\n"
            "[2026-01-02T03:04:06Z] - Task did not run\n"
            "not json\n"
        )
        request = seen[0]
        assert request.headers["Accept"] == "application/x-ndjson"
        assert request.url.params["map_index"] == "3"
        assert request.url.params["full_content"] == "true"
        assert request.headers["Authorization"].startswith("Bearer ")

    def test_error_details_become_a_traceback(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        error = {
            "exc_type": "ValueError",
            "exc_value": "run conf lacks in_bucket",
            "frames": [{"filename": "/dags/demo.py", "lineno": 59, "name": "_run_conf"}],
        }
        self.serve(
            airflow,
            ndjson(
                {"event": "Task failed with exception", "level": "error", "error_detail": [error]}
            ),
        )
        text = b"".join(engine.task_log("nebraska_demo", RUN, "segment", 2)).decode()
        assert text == (
            "ERROR - Task failed with exception\n"
            "Traceback (most recent call last):\n"
            '  File "/dags/demo.py", line 59, in _run_conf\n'
            "ValueError: run conf lacks in_bucket\n"
        )

    def test_plain_text_dialect_streams_the_body_as_is(self, airflow: FakeAirflow) -> None:
        seen = self.serve(airflow, "line 1\nline 2\n")
        transport = httpx.MockTransport(airflow)
        dialect = replace(V2, log_format="text")
        engine = AirflowEngine(BASE, "admin", "secret", transport=transport, dialect=dialect)
        assert b"".join(engine.task_log("nebraska_demo", RUN, "segment", 2)) == b"line 1\nline 2\n"
        assert seen[0].headers["Accept"] == "text/plain"

    def test_unknown_task_or_try_is_not_found_before_streaming(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        self.serve(airflow, json.dumps({"detail": "TaskInstance not found"}), status=404)
        with pytest.raises(NotFound, match="TaskInstance not found"):
            engine.task_log("nebraska_demo", RUN, "segment", 2)

    def test_an_error_answer_is_an_upstream_error_before_streaming(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        self.serve(airflow, "oops", status=500)
        with pytest.raises(UpstreamBadResponse):
            engine.task_log("nebraska_demo", RUN, "segment", 2)

    def test_a_stream_that_breaks_off_ends_with_a_note(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        class Broken(httpx.SyncByteStream):
            def __iter__(self):  # type: ignore[no-untyped-def]
                yield b'{"event": "first"}\n'
                raise httpx.ReadError("connection reset")

        airflow.routes["GET", TIS_PATH + "/segment/logs/2"] = lambda r: httpx.Response(
            200, stream=Broken()
        )
        text = b"".join(engine.task_log("nebraska_demo", RUN, "segment", 2)).decode()
        assert text.startswith("first\n")
        assert "broke off" in text

    def test_ids_are_quoted_in_the_log_path(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        with pytest.raises(NotFound):
            engine.task_log("nebraska_demo", "a/b", "t?x", 1)
        assert airflow.requests[-1].url.raw_path.startswith(
            b"/api/v2/dags/nebraska_demo/dagRuns/a%2Fb/taskInstances/t%3Fx/logs/1"
        )


class TestCancel:
    def serve(self, airflow: FakeAirflow, state: str, note: str | None = None) -> list[Any]:
        airflow.runs = [run(RUN, state, note=note)]
        patches: list[Any] = []

        def patch(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            patches.append((request.url.path, body))
            airflow.runs[0].update(body)
            return httpx.Response(200, json=airflow.runs[0])

        airflow.routes["PATCH", RUN_PATH] = patch
        airflow.routes["PATCH", RUN_PATH + "/setNote"] = patch
        return patches

    @pytest.mark.parametrize("state", ["queued", "running"])
    def test_an_active_run_is_marked_failed_with_a_note_and_reads_cancelled(
        self, airflow: FakeAirflow, engine: AirflowEngine, state: str
    ) -> None:
        patches = self.serve(airflow, state)
        cancelled = engine.cancel_run("nebraska_demo", RUN, by="thomas")
        assert cancelled.status is RunStatus.CANCELLED
        assert patches == [(RUN_PATH, {"state": "failed", "note": f"{CANCEL_NOTE} by thomas"})]

    def test_cancelling_twice_answers_the_cancelled_run_again(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        patches = self.serve(airflow, "running")
        first = engine.cancel_run("nebraska_demo", RUN, by="thomas")
        second = engine.cancel_run("nebraska_demo", RUN, by="thomas")
        assert first == second
        assert len(patches) == 1

    def test_a_cancelled_run_a_racing_scheduler_finished_as_success_is_cancelled(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        # Airflow 2 on SQLite: the scheduler promoting the queued run overwrote the cancel,
        # then called the run a success because every task had been skipped.
        patches = self.serve(airflow, "success", f"{CANCEL_NOTE} by thomas")
        assert engine.get_run("nebraska_demo", RUN).status is RunStatus.CANCELLED
        again = engine.cancel_run("nebraska_demo", RUN, by="thomas")
        assert again.status is RunStatus.CANCELLED
        assert airflow.runs[0]["state"] == "failed"
        assert patches == [(RUN_PATH, {"state": "failed", "note": f"{CANCEL_NOTE} by thomas"})]

    def test_a_run_whose_cancel_stopped_half_way_is_cancelled_again(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        patches = self.serve(airflow, "running", f"{CANCEL_NOTE} by thomas")
        assert engine.get_run("nebraska_demo", RUN).status is RunStatus.RUNNING
        assert engine.cancel_run("nebraska_demo", RUN, by="thomas").status is RunStatus.CANCELLED
        assert len(patches) == 1

    def test_a_database_error_of_airflow_is_sent_again(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        # Airflow 3 on SQLite answers 500 "Database error" while its scheduler holds the
        # database; the PATCH only sets values, so the engine sends it again.
        patches = self.serve(airflow, "running")
        answer = airflow.routes["PATCH", RUN_PATH]
        busy = iter([always(500, {"reason": "Database error", "statement": "hidden"})])
        airflow.routes["PATCH", RUN_PATH] = lambda r: next(busy, answer)(r)
        assert engine.cancel_run("nebraska_demo", RUN, by="thomas").status is RunStatus.CANCELLED
        assert len(patches) == 1
        assert airflow.count("PATCH", RUN_PATH) == 2

    def test_another_server_error_is_not_sent_again(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        self.serve(airflow, "running")
        airflow.routes["PATCH", RUN_PATH] = always(500, {"detail": "Internal Server Error"})
        with pytest.raises(UpstreamBadResponse, match="500"):
            engine.cancel_run("nebraska_demo", RUN, by="thomas")
        assert airflow.count("PATCH", RUN_PATH) == 1

    @pytest.mark.parametrize(
        ("state", "note"), [("success", None), ("failed", None), ("failed", "flaky input")]
    )
    def test_a_run_that_finished_otherwise_is_a_conflict(
        self, airflow: FakeAirflow, engine: AirflowEngine, state: str, note: str | None
    ) -> None:
        patches = self.serve(airflow, state, note)
        with pytest.raises(Conflict, match="already finished"):
            engine.cancel_run("nebraska_demo", RUN, by="thomas")
        assert patches == []

    def test_unknown_run_is_not_found(self, engine: AirflowEngine) -> None:
        with pytest.raises(NotFound):
            engine.cancel_run("nebraska_demo", "nope", by="thomas")

    def test_dialect_without_note_in_patch_sets_the_note_first(self, airflow: FakeAirflow) -> None:
        patches = self.serve(airflow, "running")
        dialect = replace(V2, note_in_patch=False)
        engine = AirflowEngine(
            BASE, "admin", "secret", transport=httpx.MockTransport(airflow), dialect=dialect
        )
        engine.cancel_run("nebraska_demo", RUN, by="thomas")
        assert patches == [
            (RUN_PATH + "/setNote", {"note": f"{CANCEL_NOTE} by thomas"}),
            (RUN_PATH, {"state": "failed"}),
        ]

    def test_the_patch_is_sent_a_bounded_number_of_times(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        self.serve(airflow, "running")
        airflow.routes["PATCH", RUN_PATH] = raising(httpx.ConnectError)
        with pytest.raises(Exception, match="reach Airflow"):
            engine.cancel_run("nebraska_demo", RUN, by="thomas")
        assert airflow.count("PATCH", RUN_PATH) == 3


class TestStatusFilter:
    def test_status_is_filtered_server_side_and_checked(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.runs = [run("labcas__thomas__1", "running"), run("labcas__thomas__2", "success")]
        runs = engine.list_user_runs(
            ["nebraska_demo"],
            username="thomas",
            run_id_prefix="labcas__thomas__",
            status=RunStatus.RUNNING,
        )
        assert [r.run_id for r in runs] == ["labcas__thomas__1"]
        listing = [r for r in airflow.requests if r.url.path.endswith("/dagRuns")]
        assert listing[0].url.params["state"] == "running"

    def test_no_status_sends_no_state_filter(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        engine.list_user_runs(
            ["nebraska_demo"], username="thomas", run_id_prefix="labcas__thomas__"
        )
        assert "state" not in airflow.requests[-1].url.params
