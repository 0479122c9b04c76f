"""The Airflow 3 adapter against a scripted Airflow (httpx.MockTransport)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from labcas_workflow_api.domain.errors import (
    ConfigError,
    Conflict,
    InvalidParameters,
    NotFound,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.domain.models import Parameter, RunStatus
from labcas_workflow_api.engines.airflow import V2, AirflowEngine

BASE = "http://airflow.test"
Handler = Callable[[httpx.Request], httpx.Response]


def jwt_with_exp(exp: float, n: int) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS512'})}.{part({'sub': 'admin', 'exp': exp, 'n': n})}.sig"


def dag(dag_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "dag_id": dag_id,
        "description": f"{dag_id} description",
        "is_paused": False,
        "timetable_summary": None,
        **extra,
    }


def run(run_id: str, state: str | None = "success", **extra: Any) -> dict[str, Any]:
    return {
        "dag_run_id": run_id,
        "dag_id": "nebraska_demo",
        "state": state,
        "queued_at": "2026-01-02T03:04:05.123456Z",
        "start_date": "2026-01-02T03:04:06Z",
        "end_date": None,
        "conf": {"username": "thomas"},
        **extra,
    }


class FakeAirflow:
    """Routes requests like Airflow 3 does; records them; can be told to fail."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.logins = 0
        self.token_ttl = 3600.0
        self.valid_tokens: set[str] = set()
        self.dags = [dag(f"dag_{i:02d}") for i in range(5)]
        self.runs: list[dict[str, Any]] = []
        self.params: dict[str, Any] = {}
        self.routes: dict[tuple[str, str], Handler] = {}
        #: the answer to a token it does not know: 401, or 403 after its signing key changed
        self.unknown_token: tuple[int, dict[str, Any]] = (401, {"detail": "Not authenticated"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if override := self.routes.get((request.method, path)):
            return override(request)
        if path == "/auth/token" and request.method == "POST":
            body = json.loads(request.content)
            if body != {"username": "admin", "password": "secret"}:
                return httpx.Response(401, json={"detail": "Invalid credentials"})
            self.logins += 1
            token = jwt_with_exp(time.time() + self.token_ttl, self.logins)
            self.valid_tokens.add(token)
            return httpx.Response(201, json={"access_token": token})
        if path == "/api/v2/monitor/health":
            healthy = {"status": "healthy"}
            return httpx.Response(200, json={"metadatabase": healthy, "scheduler": healthy})
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in (
            self.valid_tokens
        ):
            status, body = self.unknown_token
            return httpx.Response(status, json=body)
        if path == "/api/v2/dags":
            return self.page(request, self.dags, "dags")
        if path == "/api/v2/dags/nebraska_demo/details":
            return httpx.Response(200, json=dag("nebraska_demo", params=self.params))
        if path == "/api/v2/dags/~/dagRuns" and request.method == "GET":  # filters ignored
            return self.page(request, self.runs, "dag_runs")
        if path == "/api/v2/dags/nebraska_demo/dagRuns" and request.method == "POST":
            body = json.loads(request.content)
            if any(r["dag_run_id"] == body["dag_run_id"] for r in self.runs):
                return httpx.Response(409, json={"detail": "exists"})
            created = run(body["dag_run_id"], "queued", conf=body["conf"], start_date=None)
            self.runs.append(created)
            return httpx.Response(200, json=created)
        if path.startswith("/api/v2/dags/nebraska_demo/dagRuns/"):
            run_id = unquote(request.url.raw_path.decode().rsplit("/", 1)[1])
            for item in self.runs:
                if item["dag_run_id"] == run_id:
                    return httpx.Response(200, json=item)
        return httpx.Response(404, json={"detail": f"{path} not found"})

    @staticmethod
    def page(request: httpx.Request, items: list[Any], key: str) -> httpx.Response:
        limit = min(int(request.url.params.get("limit", 50)), 3)  # a low maximum_page_limit
        offset = int(request.url.params.get("offset", 0))
        body = {key: items[offset : offset + limit], "total_entries": len(items)}
        return httpx.Response(200, json=body)

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)


@pytest.fixture
def airflow() -> FakeAirflow:
    return FakeAirflow()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def engine(airflow: FakeAirflow, sleeps: list[float]) -> AirflowEngine:
    transport = httpx.MockTransport(airflow)
    return AirflowEngine(
        BASE + "/", "admin", "secret", transport=transport, page_size=100, sleep=sleeps.append
    )


def always(status: int, body: Any = None, text: str | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text)
        return httpx.Response(status, json=body if body is not None else {"detail": "boom"})

    return handler


def raising(exc: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("simulated", request=request)

    return handler


class TestToken:
    def test_token_is_fetched_once_and_reused(
        self, engine: AirflowEngine, airflow: FakeAirflow
    ) -> None:
        engine.list_workflows()
        engine.get_workflow("nebraska_demo")
        assert airflow.logins == 1
        assert all(
            r.headers["Authorization"].startswith("Bearer ")
            for r in airflow.requests
            if r.url.path.startswith("/api/v2/dags")
        )

    def test_token_near_expiry_is_renewed(
        self, engine: AirflowEngine, airflow: FakeAirflow
    ) -> None:
        airflow.token_ttl = 30  # inside the 60 s leeway: stale at once
        engine.get_workflow("nebraska_demo")
        engine.get_workflow("nebraska_demo")
        assert airflow.logins == 2

    def test_token_rejected_with_401_is_renewed_and_the_call_retried_once(
        self, engine: AirflowEngine, airflow: FakeAirflow
    ) -> None:
        engine.get_workflow("nebraska_demo")
        airflow.valid_tokens.clear()  # e.g. Airflow restarted with a new secret
        assert engine.get_workflow("nebraska_demo").id == "nebraska_demo"
        assert airflow.logins == 2
        assert airflow.count("GET", "/api/v2/dags/nebraska_demo/details") == 3

    def test_token_airflow_cannot_verify_is_renewed_and_the_call_sent_again_once(
        self, engine: AirflowEngine, airflow: FakeAirflow
    ) -> None:
        engine.get_workflow("nebraska_demo")
        airflow.valid_tokens.clear()  # Airflow 3 restarted with a new JWT secret answers 403
        airflow.unknown_token = (403, {"detail": "Invalid JWT token"})
        assert engine.get_workflow("nebraska_demo").id == "nebraska_demo"
        assert airflow.logins == 2
        assert airflow.count("GET", "/api/v2/dags/nebraska_demo/details") == 3

    def test_a_403_for_a_permission_renews_nothing(
        self, engine: AirflowEngine, airflow: FakeAirflow
    ) -> None:
        forbidden = always(403, {"detail": "Forbidden"})
        airflow.routes["GET", "/api/v2/dags/nebraska_demo/details"] = forbidden
        with pytest.raises(UpstreamBadResponse, match="403"):
            engine.get_workflow("nebraska_demo")
        assert airflow.logins == 1
        assert airflow.count("GET", "/api/v2/dags/nebraska_demo/details") == 1

    @pytest.mark.parametrize("refusal", [401, 403])
    def test_requests_refused_the_same_token_at_once_renew_it_once(
        self, engine: AirflowEngine, airflow: FakeAirflow, refusal: int
    ) -> None:
        engine.get_workflow("nebraska_demo")
        (stale,) = airflow.valid_tokens
        airflow.valid_tokens.clear()
        refused = {401: "Not authenticated", 403: "Invalid JWT token"}[refusal]
        clients = 8
        together = threading.Barrier(clients)

        def details(request: httpx.Request) -> httpx.Response:
            token = request.headers["Authorization"].removeprefix("Bearer ")
            if token == stale:
                together.wait(timeout=5)  # every request holds the stale token
                return httpx.Response(refusal, json={"detail": refused})
            assert token in airflow.valid_tokens
            return httpx.Response(200, json=dag("nebraska_demo"))

        airflow.routes["GET", "/api/v2/dags/nebraska_demo/details"] = details
        with ThreadPoolExecutor(clients) as pool:
            ids = set(pool.map(lambda _: engine.get_workflow("nebraska_demo").id, range(clients)))
        assert ids == {"nebraska_demo"}
        assert airflow.logins == 2

    def test_a_task_log_refused_for_its_token_is_asked_again(
        self, engine: AirflowEngine, airflow: FakeAirflow
    ) -> None:
        engine.get_workflow("nebraska_demo")
        airflow.valid_tokens.clear()
        airflow.unknown_token = (403, {"detail": "Invalid JWT token"})
        path = "/api/v2/dags/d/dagRuns/r/taskInstances/t/logs/1"

        def log(request: httpx.Request) -> httpx.Response:
            token = request.headers["Authorization"].removeprefix("Bearer ")
            if token not in airflow.valid_tokens:
                return httpx.Response(403, json={"detail": "Invalid JWT token"})
            return httpx.Response(200, text='{"event": "hello"}\n')

        airflow.routes["GET", path] = log
        assert b"".join(engine.task_log("d", "r", "t", 1)) == b"hello\n"
        assert airflow.logins == 2

    def test_persistent_401_is_a_bad_upstream_response(
        self, engine: AirflowEngine, airflow: FakeAirflow
    ) -> None:
        airflow.routes["GET", "/api/v2/dags/nebraska_demo/details"] = always(401)
        with pytest.raises(UpstreamBadResponse):
            engine.get_workflow("nebraska_demo")
        assert airflow.count("GET", "/api/v2/dags/nebraska_demo/details") == 2

    def test_wrong_credentials_are_a_bad_upstream_response_naming_the_settings(
        self, airflow: FakeAirflow
    ) -> None:
        transport = httpx.MockTransport(airflow)
        engine = AirflowEngine(BASE, "admin", "wrong", transport=transport)
        with pytest.raises(UpstreamBadResponse, match="LABCAS_ENGINE_PASSWORD"):
            engine.list_workflows()

    def test_token_answer_without_token_is_a_bad_upstream_response(
        self, engine: AirflowEngine, airflow: FakeAirflow
    ) -> None:
        airflow.routes["POST", "/auth/token"] = always(201, {"token": "x"})
        with pytest.raises(UpstreamBadResponse, match="access_token"):
            engine.list_workflows()

    def test_opaque_token_is_cached_for_a_while(
        self, engine: AirflowEngine, airflow: FakeAirflow
    ) -> None:
        def opaque(request: httpx.Request) -> httpx.Response:
            airflow.valid_tokens.add("opaque")
            return httpx.Response(201, json={"access_token": "opaque"})

        airflow.routes["POST", "/auth/token"] = opaque
        engine.list_workflows()
        engine.list_workflows()
        assert airflow.count("POST", "/auth/token") == 1


class TestWorkflows:
    def test_list_reads_every_page(self, airflow: FakeAirflow, engine: AirflowEngine) -> None:
        airflow.dags = [dag(f"dag_{i:02d}") for i in range(8)]
        workflows = engine.list_workflows()
        assert [w.id for w in workflows] == [f"dag_{i:02d}" for i in range(8)]
        assert airflow.count("GET", "/api/v2/dags") == 3
        offsets = [r.url.params["offset"] for r in airflow.requests if r.url.path == "/api/v2/dags"]
        assert offsets == ["0", "3", "6"]

    def test_list_maps_description_schedule_and_pause(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.dags = [dag("a", is_paused=True, timetable_summary="@daily", description=None)]
        (workflow,) = engine.list_workflows()
        assert (workflow.id, workflow.description, workflow.schedule, workflow.paused) == (
            "a",
            None,
            "@daily",
            True,
        )

    def test_get_maps_airflow3_params(self, airflow: FakeAirflow, engine: AirflowEngine) -> None:
        airflow.params = {
            "tile_size": {
                "value": 64,
                "schema": {"type": "integer", "minimum": 8},
                "description": "Tile side",
                "source": "dag",
            },
            "threshold_method": {
                "value": "otsu",
                "schema": {"type": "string", "enum": ["otsu", "li", "yen"]},
                "description": None,
                "source": "dag",
            },
        }
        workflow = engine.get_workflow("nebraska_demo")
        assert workflow.description == "nebraska_demo description"
        assert workflow.parameters == {
            "tile_size": Parameter(64, "Tile side", {"type": "integer", "minimum": 8}),
            "threshold_method": Parameter(
                "otsu", None, {"type": "string", "enum": ["otsu", "li", "yen"]}
            ),
        }

    def test_get_maps_airflow2_and_bare_params(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.params = {
            "a": {
                "__class": "airflow.models.param.Param",
                "value": 3,
                "description": "an int",
                "schema": {"type": "integer"},
            },
            "b": "plain",
            "c": {"x": 1},
        }
        params = engine.get_workflow("nebraska_demo").parameters
        assert params["a"] == Parameter(3, "an int", {"type": "integer"})
        assert params["b"] == Parameter("plain")
        assert params["c"] == Parameter({"x": 1})

    def test_unknown_workflow_is_not_found(self, engine: AirflowEngine) -> None:
        with pytest.raises(NotFound):
            engine.get_workflow("nope")

    def test_workflow_id_is_quoted_in_the_path(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        with pytest.raises(NotFound):
            engine.get_workflow("a/../b")
        assert airflow.requests[-1].url.raw_path == b"/api/v2/dags/a%2F..%2Fb/details"

    @pytest.mark.parametrize(
        "body",
        [[], {"dag_id": None}, {"dag_id": "x", "params": ["a"]}],
        ids=["not-an-object", "no-id", "params-not-a-mapping"],
    )
    def test_malformed_dag_is_a_bad_upstream_response(
        self, airflow: FakeAirflow, engine: AirflowEngine, body: Any
    ) -> None:
        airflow.routes["GET", "/api/v2/dags/x/details"] = always(200, body)
        with pytest.raises(UpstreamBadResponse):
            engine.get_workflow("x")

    def test_list_without_the_list_key_is_a_bad_upstream_response(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.routes["GET", "/api/v2/dags"] = always(200, {"total_entries": 1})
        with pytest.raises(UpstreamBadResponse, match="dags"):
            engine.list_workflows()


class TestTrigger:
    def test_trigger_sends_run_id_conf_and_null_logical_date(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        conf = {"username": "thomas", "tile_size": 32}
        created = engine.trigger_run("nebraska_demo", "labcas__thomas__1", conf)
        sent = json.loads(airflow.requests[-1].content)
        assert sent == {"dag_run_id": "labcas__thomas__1", "conf": conf, "logical_date": None}
        assert (created.run_id, created.status, created.conf) == (
            "labcas__thomas__1",
            RunStatus.QUEUED,
            conf,
        )

    def test_existing_run_id_is_a_conflict(self, engine: AirflowEngine) -> None:
        engine.trigger_run("nebraska_demo", "labcas__thomas__1", {})
        with pytest.raises(Conflict):
            engine.trigger_run("nebraska_demo", "labcas__thomas__1", {})

    def test_params_refused_by_airflow_are_invalid_parameters(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        detail = "Invalid input for param tile_size: 2 is less than the minimum of 8"
        airflow.routes["POST", "/api/v2/dags/nebraska_demo/dagRuns"] = always(
            400, {"detail": detail}
        )
        with pytest.raises(InvalidParameters, match="tile_size"):
            engine.trigger_run("nebraska_demo", "r", {"tile_size": 2})

    def test_dag_with_import_errors_is_a_conflict(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        detail = "Dag with dag_id: 'nebraska_demo' has import errors and cannot be triggered"
        airflow.routes["POST", "/api/v2/dags/nebraska_demo/dagRuns"] = always(
            400, {"detail": detail}
        )
        with pytest.raises(Conflict):
            engine.trigger_run("nebraska_demo", "r", {})

    def test_trigger_of_unknown_workflow_is_not_found(self, engine: AirflowEngine) -> None:
        with pytest.raises(NotFound):
            engine.trigger_run("nope", "r", {})

    @pytest.mark.parametrize(
        ("answer", "error"),
        [
            (always(503), UpstreamUnavailable),
            (always(500), UpstreamBadResponse),
            (raising(httpx.ReadError), UpstreamUnavailable),
            (raising(httpx.ReadTimeout), UpstreamTimeout),
        ],
    )
    def test_a_trigger_airflow_may_have_applied_is_not_sent_again(
        self,
        airflow: FakeAirflow,
        engine: AirflowEngine,
        answer: Handler,
        error: type[Exception],
    ) -> None:
        airflow.routes["POST", "/api/v2/dags/nebraska_demo/dagRuns"] = answer
        with pytest.raises(error):
            engine.trigger_run("nebraska_demo", "r", {})
        assert airflow.count("POST", "/api/v2/dags/nebraska_demo/dagRuns") == 1

    def test_a_trigger_airflow_did_not_apply_is_sent_again(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        path = "/api/v2/dags/nebraska_demo/dagRuns"
        tries = [raising(httpx.ConnectError), always(500, {"reason": "Database error"})]

        def unapplied(request: httpx.Request) -> httpx.Response:
            if len(tries) == 1:
                airflow.routes.pop(("POST", path))  # then Airflow takes the third
            return tries.pop(0)(request)

        airflow.routes["POST", path] = unapplied
        assert engine.trigger_run("nebraska_demo", "r", {}).run_id == "r"
        assert airflow.count("POST", path) == 3


class TestRuns:
    @pytest.mark.parametrize(
        ("state", "status"),
        [
            ("queued", RunStatus.QUEUED),
            (None, RunStatus.QUEUED),
            ("running", RunStatus.RUNNING),
            ("success", RunStatus.SUCCESS),
            ("failed", RunStatus.FAILED),
        ],
    )
    def test_states_map_to_our_statuses(
        self, airflow: FakeAirflow, engine: AirflowEngine, state: str | None, status: RunStatus
    ) -> None:
        airflow.runs = [run("labcas__thomas__1", state)]
        assert engine.get_run("nebraska_demo", "labcas__thomas__1").status is status

    def test_unknown_state_is_a_bad_upstream_response(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.runs = [run("labcas__thomas__1", "exploded")]
        with pytest.raises(UpstreamBadResponse, match="exploded"):
            engine.get_run("nebraska_demo", "labcas__thomas__1")

    def test_get_run_maps_times_and_conf(self, airflow: FakeAirflow, engine: AirflowEngine) -> None:
        airflow.runs = [run("labcas__thomas__1", end_date="2026-01-02T03:05:00+00:00")]
        got = engine.get_run("nebraska_demo", "labcas__thomas__1")
        assert got.workflow_id == "nebraska_demo"
        assert got.start_time is not None and got.start_time.isoformat() == (
            "2026-01-02T03:04:06+00:00"
        )
        assert got.end_time is not None and got.end_time.minute == 5
        assert got.queued_at is not None and got.queued_at.microsecond == 123456
        assert got.conf == {"username": "thomas"}

    def test_unreadable_time_is_a_bad_upstream_response(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.runs = [run("labcas__thomas__1", start_date="yesterday")]
        with pytest.raises(UpstreamBadResponse):
            engine.get_run("nebraska_demo", "labcas__thomas__1")

    def test_unknown_run_is_not_found(self, engine: AirflowEngine) -> None:
        with pytest.raises(NotFound):
            engine.get_run("nebraska_demo", "labcas__thomas__nope")

    def test_run_id_with_reserved_characters_is_quoted(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.runs = [run("manual__2026-01-02T03:04:05+00:00")]
        engine.get_run("nebraska_demo", "manual__2026-01-02T03:04:05+00:00")
        assert airflow.requests[-1].url.raw_path.endswith(
            b"/manual__2026-01-02T03%3A04%3A05%2B00%3A00"
        )

    def test_list_narrows_server_side_and_reads_every_page(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.runs = [run(f"labcas__thomas__{i}") for i in range(7)]
        runs = engine.list_user_runs(
            ["nebraska_demo"], username="thomas", run_id_prefix="labcas__thomas__"
        )
        assert [r.run_id for r in runs] == [f"labcas__thomas__{i}" for i in range(7)]
        listing = [r for r in airflow.requests if r.url.path.endswith("/dagRuns")]
        assert len(listing) == 3
        params = listing[0].url.params
        assert params["run_id_prefix_pattern"] == "labcas__thomas__"
        assert params["conf_contains"] == '"thomas"'
        assert params["order_by"] == "-id"

    def test_list_keeps_only_the_users_runs_when_airflow_over_matches(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        # Airflow drops the trailing "__" of the prefix and treats "_" in conf_contains as a
        # wildcard, so it may answer with other users' runs.
        airflow.runs = [
            run("labcas__thomas__1"),
            run("labcas__thomasx__1", conf={"username": "thomasx"}),
            run("labcas__thomas__2", conf={"username": "mallory"}),
            run("manual__2026", conf={"username": "thomas"}),
            run("labcas__thomas__1"),  # the same run seen twice across pages
        ]
        runs = engine.list_user_runs(
            ["nebraska_demo"], username="thomas", run_id_prefix="labcas__thomas__"
        )
        assert [r.run_id for r in runs] == ["labcas__thomas__1"]

    def test_list_of_unknown_workflow_is_empty(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.runs = [run("labcas__thomas__1")]
        runs = engine.list_user_runs(["nope"], username="thomas", run_id_prefix="labcas__thomas__")
        assert runs == []

    @pytest.mark.parametrize(
        ("username", "prefix", "expected"),
        [
            ("thomas", "labcas__thomas__", {"run_id_prefix_pattern": "labcas__thomas__"}),
            ("a|b", "labcas__a|b__", {"run_id_prefix_pattern": "labcas__a"}),
            ("o'neil", "labcas__o'neil__", {"run_id_prefix_pattern": "labcas__o'neil__"}),
            ("x", "~", {}),
        ],
    )
    def test_server_side_filters_only_widen_the_match(
        self, username: str, prefix: str, expected: dict[str, str]
    ) -> None:
        filters = V2.run_filters(username, prefix)
        assert {k: v for k, v in filters.items() if k != "conf_contains"} == expected
        if "conf_contains" in filters:
            assert filters["conf_contains"] == json.dumps(username)
        else:
            assert username in ("a|b", "o'neil")


class TestUpstreamFailures:
    @pytest.mark.parametrize(
        ("exc", "error"),
        [
            (httpx.ConnectError, UpstreamUnavailable),
            (httpx.ConnectTimeout, UpstreamUnavailable),
            (httpx.RemoteProtocolError, UpstreamUnavailable),
            (httpx.ReadTimeout, UpstreamTimeout),
        ],
    )
    def test_transport_errors_map_to_upstream_errors(
        self,
        airflow: FakeAirflow,
        engine: AirflowEngine,
        exc: type[httpx.TransportError],
        error: type[Exception],
    ) -> None:
        airflow.routes["GET", "/api/v2/dags"] = raising(exc)
        with pytest.raises(error):
            engine.list_workflows()

    def test_connection_errors_are_retried_a_bounded_number_of_times(
        self, airflow: FakeAirflow, engine: AirflowEngine, sleeps: list[float]
    ) -> None:
        airflow.routes["GET", "/api/v2/dags"] = raising(httpx.ConnectError)
        with pytest.raises(UpstreamUnavailable):
            engine.list_workflows()
        assert airflow.count("GET", "/api/v2/dags") == 3
        assert sleeps == [0.2, 0.4]

    def test_read_timeouts_are_not_retried(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.routes["GET", "/api/v2/dags"] = raising(httpx.ReadTimeout)
        with pytest.raises(UpstreamTimeout):
            engine.list_workflows()
        assert airflow.count("GET", "/api/v2/dags") == 1

    def test_a_transient_gateway_error_is_retried_then_succeeds(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        answers = iter([httpx.Response(502, text="bad gateway")])

        def flaky(request: httpx.Request) -> httpx.Response:
            airflow.routes.pop(("GET", "/api/v2/dags"))
            return next(answers)

        airflow.routes["GET", "/api/v2/dags"] = flaky
        assert len(engine.list_workflows()) == 5

    def test_a_database_error_of_airflow_3_is_retried_then_succeeds(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        answers = iter([httpx.Response(500, json={"reason": "Database error"})])

        def busy(request: httpx.Request) -> httpx.Response:
            airflow.routes.pop(("GET", "/api/v2/dags"))
            return next(answers)

        airflow.routes["GET", "/api/v2/dags"] = busy
        assert len(engine.list_workflows()) == 5  # a 500 not retried raises

    def test_a_500_too_large_to_be_the_database_error_is_not_read_nor_retried(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        body = json.dumps({"reason": "Database error", "padding": "x" * 20_000})
        airflow.routes["GET", "/api/v2/dags"] = always(500, text=body)
        with pytest.raises(UpstreamBadResponse):
            engine.list_workflows()
        assert airflow.count("GET", "/api/v2/dags") == 1

    @pytest.mark.parametrize(
        ("status", "error", "attempts"),
        [
            (500, UpstreamBadResponse, 1),
            (502, UpstreamBadResponse, 3),
            (503, UpstreamUnavailable, 3),
            (504, UpstreamTimeout, 3),
            (403, UpstreamBadResponse, 1),
            (422, UpstreamBadResponse, 1),
        ],
    )
    def test_error_statuses_map_to_upstream_errors(
        self,
        airflow: FakeAirflow,
        engine: AirflowEngine,
        status: int,
        error: type[Exception],
        attempts: int,
    ) -> None:
        airflow.routes["GET", "/api/v2/dags"] = always(status)
        with pytest.raises(error):
            engine.list_workflows()
        assert airflow.count("GET", "/api/v2/dags") == attempts

    def test_unparseable_answer_is_a_bad_upstream_response(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.routes["GET", "/api/v2/dags"] = always(200, text="<html>proxy page</html>")
        with pytest.raises(UpstreamBadResponse):
            engine.list_workflows()

    def test_unreachable_login_is_unavailable(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        airflow.routes["POST", "/auth/token"] = raising(httpx.ConnectError)
        with pytest.raises(UpstreamUnavailable):
            engine.get_workflow("nebraska_demo")

    def test_connection_refused_by_a_real_socket_is_unavailable(self) -> None:
        from labcas_workflow_api.devstack.process import free_port

        engine = AirflowEngine(
            f"http://127.0.0.1:{free_port()}", "admin", "secret", retries=0, timeout=2
        )
        with engine, pytest.raises(UpstreamUnavailable):
            engine.list_workflows()

    def test_errors_carry_the_http_status_of_our_api(self) -> None:
        assert (UpstreamBadResponse.status, UpstreamUnavailable.status) == (502, 503)
        assert UpstreamTimeout.status == 504


class TestPing:
    def test_healthy_airflow_pings(self, airflow: FakeAirflow, engine: AirflowEngine) -> None:
        engine.ping()
        assert airflow.logins == 1  # credentials are checked too

    def test_unhealthy_scheduler_is_unavailable(
        self, airflow: FakeAirflow, engine: AirflowEngine
    ) -> None:
        body = {"metadatabase": {"status": "healthy"}, "scheduler": {"status": "unhealthy"}}
        airflow.routes["GET", "/api/v2/monitor/health"] = always(200, body)
        with pytest.raises(UpstreamUnavailable, match="scheduler"):
            engine.ping()


def test_an_unknown_api_version_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="v1 or v2"):
        AirflowEngine(BASE, "admin", "secret", api_version="v3")
