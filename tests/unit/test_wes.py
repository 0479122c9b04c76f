"""The GA4GH WES 1.1 face at ``/ga4gh/wes/v1``: the same token, rules and services as the REST
API, WES's fields, states, ids and error shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api import cursor as codec
from labcas_workflow_api.domain.models import RunStatus, TaskInstance
from labcas_workflow_api.http.wes import ids
from labcas_workflow_api.wire.wes import STATES, WesState, wes_state
from tests.unit.fakes import FakeEngine
from tests.unit.test_http_run_control import DEMO, add_run

Auth = Callable[[str], dict[str, str]]
WES = "/ga4gh/wes/v1"
PARAMS = {"in_data_selection": "nebraska_images", "tile_size": 32}
#: Every task state Airflow 2 and 3 report (``TaskInstanceState`` and a task not yet scheduled).
AIRFLOW_TASK_STATES = {
    None: WesState.QUEUED,
    "scheduled": WesState.QUEUED,
    "queued": WesState.QUEUED,
    "up_for_retry": WesState.QUEUED,
    "restarting": WesState.QUEUED,
    "running": WesState.RUNNING,
    "deferred": WesState.RUNNING,
    "up_for_reschedule": WesState.RUNNING,
    "success": WesState.COMPLETE,
    "skipped": WesState.COMPLETE,
    "failed": WesState.EXECUTOR_ERROR,
    "upstream_failed": WesState.EXECUTOR_ERROR,
    "removed": WesState.UNKNOWN,
    "shutdown": WesState.CANCELING,
}
RUN_STATES = {
    RunStatus.QUEUED: WesState.QUEUED,
    RunStatus.RUNNING: WesState.RUNNING,
    RunStatus.SUCCESS: WesState.COMPLETE,
    RunStatus.FAILED: WesState.EXECUTOR_ERROR,
    RunStatus.CANCELLED: WesState.CANCELED,
}


def form(**fields: Any) -> dict[str, str]:
    """A run request's form fields: the demo workflow, ``PARAMS``, overridden by ``fields``."""
    base: dict[str, Any] = {
        "workflow_url": DEMO,
        "workflow_type": "AIRFLOW_DAG",
        "workflow_type_version": "3",
        "workflow_params": PARAMS,
    }
    base |= fields
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in base.items()}


def body(**fields: Any) -> dict[str, Any]:
    """The same request as JSON."""
    base = {"workflow_url": DEMO, "workflow_type": "AIRFLOW_DAG", "workflow_type_version": "3"}
    return {**base, "workflow_params": PARAMS, **fields}


def assert_error(answer: Any, status: int, text: str = "") -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"msg": answer.json()["msg"], "status_code": status}
    assert text in answer.json()["msg"]


def start(client: TestClient, auth: Auth, user: str = "thomas", **fields: Any) -> str:
    answer = client.post(f"{WES}/runs", headers=auth(user), data=form(**fields))
    assert answer.status_code == 200, answer.text
    run_id: str = answer.json()["run_id"]
    return run_id


class TestStates:
    @pytest.mark.parametrize("status", list(RunStatus))
    def test_every_run_status_has_its_wes_state(self, status: RunStatus) -> None:
        assert wes_state(status) is RUN_STATES[status]

    @pytest.mark.parametrize("state", list(AIRFLOW_TASK_STATES))
    def test_every_airflow_task_state_has_its_wes_state(self, state: str | None) -> None:
        assert wes_state(state) is AIRFLOW_TASK_STATES[state]

    def test_an_unknown_state_is_unknown_and_the_table_has_nothing_else(self) -> None:
        assert wes_state("exploded") is WesState.UNKNOWN
        listed = {*AIRFLOW_TASK_STATES, *(s.value for s in RunStatus), "none"}
        assert set(STATES) == listed


class TestIds:
    @pytest.mark.parametrize(
        ("workflow", "run"),
        [(DEMO, "labcas__thomas__20261128T101010000000"), ("a.b-c", "manual__2026:00+00~x")],
    )
    def test_run_ids_round_trip(self, workflow: str, run: str) -> None:
        assert ids.parse_run_id(ids.run_id(workflow, run)) == (workflow, run)

    @pytest.mark.parametrize(
        "hostile", ["", "~", "nodelimiter", "a~", "~b", "a b~c", "a~b/c", "a~b%2F", "a~b\n", "ä~b"]
    )
    def test_hostile_run_ids_name_no_run(self, hostile: str) -> None:
        assert ids.parse_run_id(hostile) is None

    def test_task_ids_round_trip_and_refuse_junk(self) -> None:
        assert ids.parse_task_id(ids.task_id("group.task", -1)) == ("group.task", -1)
        assert ids.parse_task_id(ids.task_id("t", 12)) == ("t", 12)
        for hostile in ("t~", "t~-1", "t~01", "t~x", "~3", "a/b", ""):
            assert ids.parse_task_id(hostile) is None


class TestServiceInfo:
    def test_fields_engine_and_the_callers_counts(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        add_run(engine, "thomas", 1, RunStatus.SUCCESS)
        add_run(engine, "thomas", 2, RunStatus.RUNNING)
        add_run(engine, "dliu", 3, RunStatus.FAILED)
        info = client.get(f"{WES}/service-info", headers=auth("thomas")).json()
        assert info["type"] == {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"}
        assert info["workflow_type_versions"] == {
            "AIRFLOW_DAG": {"workflow_type_version": ["3", "2"]}
        }
        assert info["supported_wes_versions"] == ["1.1.0"]
        assert info["supported_filesystem_protocols"] == ["s3"]
        assert info["workflow_engine_versions"] == {
            "Apache Airflow": {"workflow_engine_version": ["3.3.2"]}
        }
        assert info["default_workflow_engine_parameters"] == []
        counts = info["system_state_counts"]
        assert set(counts) == {s.value for s in WesState}
        assert (counts["COMPLETE"], counts["RUNNING"], counts["EXECUTOR_ERROR"]) == (1, 1, 0)
        assert info["auth_instructions_url"] == "http://testserver/ui/"

    def test_under_the_stage_prefix_links_keep_it(self, client: TestClient, auth: Auth) -> None:
        info = client.get(f"/dev{WES}/service-info", headers=auth("thomas")).json()
        assert info["tags"]["api"] == "http://testserver/dev"


class TestErrorShape:
    def test_no_token_is_401_in_wes_shape_with_the_challenge(self, client: TestClient) -> None:
        answer = client.get(f"{WES}/runs")
        assert_error(answer, 401, "bearer token")
        assert answer.headers["www-authenticate"].startswith("Bearer")

    def test_a_bad_query_is_400(self, client: TestClient, auth: Auth) -> None:
        assert_error(client.get(f"{WES}/runs?page_size=0", headers=auth("thomas")), 400)
        answer = client.get(f"{WES}/runs?page_token=junk", headers=auth("thomas"))
        assert_error(answer, 400, "invalid cursor")

    def test_an_unknown_query_parameter_is_400(self, client: TestClient, auth: Auth) -> None:
        answer = client.get(f"{WES}/runs?limit=5", headers=auth("thomas"))
        assert_error(answer, 400, "unknown query parameter 'limit'")

    def test_the_rest_api_keeps_problem_json(self, client: TestClient) -> None:
        assert client.get("/runs").headers["content-type"] == "application/problem+json"


class TestSubmit:
    def test_multipart_starts_the_run_with_the_same_conf(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        fields = form()
        files = {name: (None, value) for name, value in fields.items()}
        answer = client.post(f"{WES}/runs", headers=auth("thomas"), files=files)
        assert answer.status_code == 200, answer.text
        workflow, run_id = ids.parse_run_id(answer.json()["run_id"]) or ("", "")
        conf = engine.runs[(workflow, run_id)].conf
        assert workflow == DEMO and conf["tile_size"] == 32 and conf["username"] == "thomas"
        assert "wes_tags" not in conf

    def test_json_and_url_encoded_forms_too(self, client: TestClient, auth: Auth) -> None:
        answer = client.post(f"{WES}/runs", headers=auth("thomas"), json=body())
        assert answer.status_code == 200, answer.text
        assert start(client, auth).startswith(f"{DEMO}~labcas__thomas__")

    def test_workflow_url_may_be_the_api_url_with_its_stage(
        self, client: TestClient, auth: Auth
    ) -> None:
        url = f"http://testserver/dev/workflows/{DEMO}"
        answer = client.post(f"/dev{WES}/runs", headers=auth("thomas"), json=body(workflow_url=url))
        assert answer.status_code == 200, answer.text
        for elsewhere in (f"https://evil.example/workflows/{DEMO}", "file:///dag.py", "../x"):
            answer = client.post(
                f"/dev{WES}/runs", headers=auth("thomas"), json=body(workflow_url=elsewhere)
            )
            assert_error(answer, 400, "workflow_url must name a curated workflow")

    def test_an_attachment_is_refused(self, client: TestClient, auth: Auth) -> None:
        files = {"workflow_attachment": ("dag.py", b"import os; os.system('id')")}
        answer = client.post(f"{WES}/runs", headers=auth("thomas"), data=form(), files=files)
        assert_error(answer, 400, "uploaded code never runs")
        answer = client.post(
            f"{WES}/runs", headers=auth("thomas"), json=body(workflow_attachment=["x"])
        )
        assert_error(answer, 400, "uploaded code never runs")

    @pytest.mark.parametrize(
        ("fields", "text"),
        [
            ({"workflow_engine_parameters": {"pool": "big"}}, "workflow_engine_parameters"),
            ({"workflow_type": "CWL"}, "workflow_type must be 'AIRFLOW_DAG'"),
            ({"workflow_type_version": "1"}, "workflow_type_version"),
            ({"workflow_engine": "cwltool"}, "workflow_engine must be"),
            ({"workflow_engine_version": "1.0"}, "workflow_engine_version must be"),
            ({"workflow_params": "[1]"}, "workflow_params must be a JSON object"),
            ({"workflow_params": '{"in_data_selection": NaN}'}, "not a JSON number"),
            ({"workflow_params": {"tile_size": 32}}, "missing field: in_data_selection"),
            ({"workflow_params": {**PARAMS, "out_bucket": "x"}}, "set by the server"),
            ({"tags": {"a": 1}}, "tags.a"),
            ({"surprise": "x"}, "unknown field 'surprise'"),
        ],
    )
    def test_refusals_name_the_field(
        self, client: TestClient, auth: Auth, fields: dict[str, Any], text: str
    ) -> None:
        answer = client.post(f"{WES}/runs", headers=auth("thomas"), data=form(**fields))
        assert_error(answer, 400, text)

    def test_hostile_multipart_bodies_are_4xx_in_wes_shape(
        self, client: TestClient, auth: Auth
    ) -> None:
        def part(name: str, value: bytes, filename: str = "") -> bytes:
            named = f'; filename="{filename}"' if filename else ""
            head = f'--b\r\nContent-Disposition: form-data; name="{name}"{named}\r\n\r\n'
            return head.encode() + value + b"\r\n"

        fields = b"".join(part(k, v.encode()) for k, v in form().items())
        cases = [
            (part("workflow_url", b"a" * 300_000), 413, "request body over"),
            (b"".join(part("x", b"") for _ in range(1001)), 400, "Too many fields"),
            (fields + part("workflow_params", b"{}", "p.json"), 400, "uploaded code never runs"),
            (fields + part("workflow_type", b"CWL"), 400, "field 'workflow_type' given twice"),
            (b"--b\r\nnonsense\r\n\r\n", 400, "multipart"),
        ]
        for content, status, text in cases:
            headers = {**auth("thomas"), "content-type": "multipart/form-data; boundary=b"}
            answer = client.post(f"{WES}/runs", headers=headers, content=content + b"--b--\r\n")
            assert_error(answer, status, text)
        headers = {**auth("thomas"), "content-type": "multipart/form-data"}
        assert_error(client.post(f"{WES}/runs", headers=headers, content=b"x"), 400, "boundary")

    def test_engine_parameters_empty_and_the_engines_own_name_pass(
        self, client: TestClient, auth: Auth
    ) -> None:
        start(client, auth, workflow_engine_parameters={}, workflow_engine="Apache Airflow")

    def test_params_are_validated_as_the_rest_api_does(
        self, client: TestClient, auth: Auth
    ) -> None:
        bad = {**PARAMS, "tile_size": 2}
        rest = client.post(f"/workflows/{DEMO}/runs", headers=auth("thomas"), json=bad)
        wes = client.post(f"{WES}/runs", headers=auth("thomas"), data=form(workflow_params=bad))
        assert rest.status_code == wes.status_code == 422
        assert rest.json()["detail"] == wes.json()["msg"]

    def test_the_access_rule_is_the_rest_apis(self, client: TestClient, auth: Auth) -> None:
        other = {**PARAMS, "in_data_selection": "private"}
        for user in ("thomas", "eve"):
            rest = client.post(f"/workflows/{DEMO}/runs", headers=auth(user), json=other)
            wes = client.post(f"{WES}/runs", headers=auth(user), data=form(workflow_params=other))
            started = {201: 200}  # REST answers 201 Created, WES 200 with the RunId
            assert started.get(rest.status_code, rest.status_code) == wes.status_code, wes.text

    def test_tags_are_kept_in_the_conf_and_echoed(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        wes_id = start(client, auth, tags={"study": "nebraska"})
        workflow, run_id = ids.parse_run_id(wes_id) or ("", "")
        assert engine.runs[(workflow, run_id)].conf["wes_tags"] == {"study": "nebraska"}
        log = client.get(f"{WES}/runs/{wes_id}", headers=auth("thomas")).json()
        assert log["request"]["tags"] == {"study": "nebraska"}
        assert log["request"]["workflow_params"] == PARAMS
        listed = client.get(f"{WES}/runs", headers=auth("thomas")).json()["runs"]
        assert listed[0]["tags"] == {"study": "nebraska"}

    def test_an_idempotency_key_replays_the_run(self, client: TestClient, auth: Auth) -> None:
        headers = {**auth("thomas"), "Idempotency-Key": "k1"}
        first = client.post(f"{WES}/runs", headers=headers, data=form())
        again = client.post(f"{WES}/runs", headers=headers, data=form())
        assert first.json() == again.json()
        other = client.post(f"{WES}/runs", headers=headers, data=form(tags={"a": "b"}))
        assert_error(other, 422, "idempotency key reused")


class TestRuns:
    def test_the_list_is_the_callers_newest_first_across_pages(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        mine = [add_run(engine, "thomas", n) for n in range(1, 6)]
        add_run(engine, "thomas", 6, workflow="paused_dag")
        add_run(engine, "dliu", 7)
        seen: list[str] = []
        token = ""
        while True:
            page = client.get(
                f"{WES}/runs?page_size=2&page_token={token}", headers=auth("thomas")
            ).json()
            seen += [r["run_id"] for r in page["runs"]]
            token = page["next_page_token"]
            if not token:
                break
        expected = [ids.run_id("paused_dag", "labcas__thomas__0006")]
        expected += [ids.run_id(DEMO, run) for run in reversed(mine)]
        assert seen == expected

    def test_status_log_and_times(self, client: TestClient, auth: Auth, engine: FakeEngine) -> None:
        run_id = add_run(engine, "thomas", 1, RunStatus.SUCCESS)
        wes_id = ids.run_id(DEMO, run_id)
        status = client.get(f"{WES}/runs/{wes_id}/status", headers=auth("thomas")).json()
        assert status == {"run_id": wes_id, "state": "COMPLETE"}
        log = client.get(f"/dev{WES}/runs/{wes_id}", headers=auth("thomas")).json()
        assert log["state"] == "COMPLETE" and log["run_log"]["start_time"] == "2026-11-28T10:01:00Z"
        assert log["task_logs_url"] == f"http://testserver/dev{WES}/runs/{wes_id}/tasks"
        assert log["request"]["workflow_url"] == f"http://testserver/dev/workflows/{DEMO}"
        assert log["request"]["workflow_type_version"] == "3"
        outputs = log["outputs"]
        assert outputs["output_folder"] == "0001/"
        assert outputs["output_url"] == "http://testserver/dev/output-data/0001/"
        assert outputs["ro_crate_url"].endswith(f"/dev/workflows/{DEMO}/runs/{run_id}/ro-crate")

    def test_another_users_run_and_hostile_ids_are_404(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        theirs = ids.run_id(DEMO, add_run(engine, "dliu", 1))
        for tail in ("", "/status", "/tasks", "/tasks/t"):
            assert_error(client.get(f"{WES}/runs/{theirs}{tail}", headers=auth("thomas")), 404)
        assert_error(client.post(f"{WES}/runs/{theirs}/cancel", headers=auth("thomas")), 404)
        for hostile in ("x", "a~b~c", "%E2%80%AE~x", "a~b%0A", "x" * 600):
            answer = client.get(f"{WES}/runs/{hostile}", headers=auth("thomas"))
            assert answer.status_code in (400, 404), answer.text
            assert set(answer.json()) == {"msg", "status_code"}

    def test_start_refused_read_and_cancel_are_audited(
        self,
        client: TestClient,
        auth: Auth,
        engine: FakeEngine,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level("INFO", logger="labcas_workflow_api.audit")
        wes_id = start(client, auth)
        _, run_id = ids.parse_run_id(wes_id) or ("", "")
        theirs = add_run(engine, "dliu", 1)
        client.get(f"{WES}/runs/{wes_id}/status", headers=auth("thomas"))  # a read: not audited
        for tail in ("", "/status", "/tasks"):
            client.get(f"{WES}/runs/{ids.run_id(DEMO, theirs)}{tail}", headers=auth("thomas"))
        client.post(f"{WES}/runs/{wes_id}/cancel", headers=auth("thomas"))
        records = [
            json.loads(r.getMessage())
            for r in caplog.records
            if r.name == "labcas_workflow_api.audit"
        ]
        assert [(r["audit"], r["run_id"], r["outcome"]) for r in records] == [
            ("run.start", run_id, "ok"),
            *[("run.read", theirs, "refused 404")] * 3,
            ("run.cancel", run_id, "ok"),
        ]
        assert records[0]["face"] == "wes" and records[0]["workflow"] == DEMO

    def test_cancel_answers_the_id_then_the_run_reads_canceled(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        wes_id = ids.run_id(DEMO, add_run(engine, "thomas", 1))
        answer = client.post(f"{WES}/runs/{wes_id}/cancel", headers=auth("thomas"))
        assert answer.json() == {"run_id": wes_id}
        status = client.get(f"{WES}/runs/{wes_id}/status", headers=auth("thomas")).json()
        assert status["state"] == "CANCELED"
        done = ids.run_id(DEMO, add_run(engine, "thomas", 2, RunStatus.SUCCESS))
        assert_error(client.post(f"{WES}/runs/{done}/cancel", headers=auth("thomas")), 409)


class TestTasks:
    @pytest.fixture
    def wes_id(self, engine: FakeEngine) -> str:
        run_id = add_run(engine, "thomas", 1)
        t0 = datetime(2026, 11, 28, 10, 1, tzinfo=UTC)
        engine.tasks[(DEMO, run_id)] = [
            TaskInstance("fetch", "success", t0, t0 + timedelta(seconds=5), 5.0, 1),
            TaskInstance("tile", "success", t0, None, None, 2, map_index=0),
            TaskInstance("tile", "running", t0, None, None, 1, map_index=1),
            TaskInstance("report", None),
        ]
        return ids.run_id(DEMO, run_id)

    def test_pages_of_task_logs_with_log_urls(
        self, client: TestClient, auth: Auth, wes_id: str
    ) -> None:
        seen: list[dict[str, Any]] = []
        token = ""
        while True:
            page = client.get(
                f"{WES}/runs/{wes_id}/tasks?page_size=3&page_token={token}",
                headers=auth("thomas"),
            ).json()
            seen += page["task_logs"]
            token = page["next_page_token"]
            if not token:
                break
        assert [t["id"] for t in seen] == ["fetch", "tile~0", "tile~1", "report"]
        assert [t["state"] for t in seen] == ["COMPLETE", "COMPLETE", "RUNNING", "QUEUED"]
        _, run_id = ids.parse_run_id(wes_id) or ("", "")
        logs = f"http://testserver/workflows/{DEMO}/runs/{run_id}/tasks"
        assert seen[0]["stdout"] == seen[0]["stderr"] == f"{logs}/fetch/logs?try=1"
        assert seen[1]["stdout"] == f"{logs}/tile/logs?try=2&map_index=0"
        assert "stdout" not in seen[3]
        assert seen[0]["end_time"] == "2026-11-28T10:01:05Z"

    def test_a_page_token_is_checked(self, client: TestClient, auth: Auth, wes_id: str) -> None:
        tasks = f"{WES}/runs/{wes_id}/tasks"
        for junk in ("junk", codec.encode({"a": 1}), codec.encode(["fetch", True])):
            answer = client.get(tasks, params={"page_token": junk}, headers=auth("thomas"))
            assert_error(answer, 400, "invalid cursor")
        gone = codec.encode(["vanished", -1])
        answer = client.get(tasks, params={"page_token": gone}, headers=auth("thomas"))
        assert_error(answer, 404, "no longer has")

    def test_one_task_by_its_id(self, client: TestClient, auth: Auth, wes_id: str) -> None:
        task = client.get(f"{WES}/runs/{wes_id}/tasks/tile~1", headers=auth("thomas")).json()
        assert (task["name"], task["state"]) == ("tile", "RUNNING")
        for missing in ("tile", "tile~7", "nope", "bad~id"):
            answer = client.get(f"{WES}/runs/{wes_id}/tasks/{missing}", headers=auth("thomas"))
            assert_error(answer, 404)
