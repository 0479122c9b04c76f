"""The MWAA engines against a stubbed boto3 MWAA client (botocore Stubber) and, for the web
login, a scripted web server (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from labcas_workflow_api.bootstrap import build_engine
from labcas_workflow_api.domain.errors import (
    ConfigError,
    Conflict,
    InvalidParameters,
    NotFound,
    UpstreamBadResponse,
    UpstreamUnavailable,
)
from labcas_workflow_api.domain.models import RunStatus
from labcas_workflow_api.engines.airflow import CANCEL_NOTE, AirflowEngine
from labcas_workflow_api.engines.mwaa import mwaa_engine, mwaa_web_login_engine, query_parameters
from labcas_workflow_api.settings import Settings

ENV = "labcas-env"
DAG = "nebraska_demo"


def dag_run(run_id: str, user: str = "thomas") -> dict[str, Any]:
    return {"dag_run_id": run_id, "dag_id": DAG, "state": "success", "conf": {"username": user}}


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "mwaa", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def engine_for(client: Any, api_version: str = "v1") -> AirflowEngine:
    return mwaa_engine(ENV, client=client, api_version=api_version, sleep=lambda _: None)


def invoke(stub: Stubber, path: str, answer: Any, status: int = 200, **call: Any) -> None:
    expected = {"Name": ENV, "Path": path, "Method": call.pop("Method", "GET"), **call}
    stub.add_response(
        "invoke_rest_api", {"RestApiStatusCode": status, "RestApiResponse": answer}, expected
    )


def invoke_error(stub: Stubber, code: str, status: int | None = None, answer: Any = None) -> None:
    fields = {} if status is None else {"RestApiStatusCode": status, "RestApiResponse": answer}
    stub.add_client_error(
        "invoke_rest_api",
        service_error_code=code,
        service_message=f"{code} (stubbed)",
        http_status_code=429 if code == "ThrottlingException" else 400,
        modeled_fields=fields or None,
    )


def environment(stub: Stubber, version: str) -> None:
    answer = {"Environment": {"Name": ENV, "AirflowVersion": version, "Status": "AVAILABLE"}}
    stub.add_response("get_environment", answer, {"Name": ENV})


class TestApiVersion:
    @pytest.mark.parametrize(("version", "prefix"), [("2.10.3", "/api/v1"), ("3.0.6", "/api/v2")])
    def test_version_of_the_environment_chooses_the_dialect_once(
        self, client: Any, stub: Stubber, version: str, prefix: str
    ) -> None:
        environment(stub, version)
        invoke(stub, "/dags/x/details", {"dag_id": "x"})
        invoke(stub, "/dags/x/details", {"dag_id": "x"})
        engine = mwaa_engine(ENV, client=client)
        assert engine.get_workflow("x").id == "x"
        assert engine.get_workflow("x").id == "x"
        assert engine.dialect.prefix == prefix
        assert engine.dialect.max_path == 64

    def test_forced_version_asks_no_environment(self, client: Any, stub: Stubber) -> None:
        invoke(stub, "/dags/x/details", {"dag_id": "x"})
        engine_for(client, "v2").get_workflow("x")

    def test_unreadable_version_is_a_bad_upstream_response(
        self, client: Any, stub: Stubber
    ) -> None:
        environment(stub, "latest")
        with pytest.raises(UpstreamBadResponse, match="latest"):
            mwaa_engine(ENV, client=client).get_workflow("x")

    def test_environment_that_cannot_be_read_asks_for_the_setting(
        self, client: Any, stub: Stubber
    ) -> None:
        stub.add_client_error("get_environment", "AccessDeniedException", http_status_code=403)
        with pytest.raises(ConfigError, match="LABCAS_MWAA_API"):
            mwaa_engine(ENV, client=client).get_workflow("x")

    def test_unknown_environment_is_a_config_error(self, client: Any, stub: Stubber) -> None:
        stub.add_client_error("get_environment", "ResourceNotFoundException", http_status_code=404)
        with pytest.raises(ConfigError, match="LABCAS_MWAA_ENV_NAME"):
            mwaa_engine(ENV, client=client).get_workflow("x")

    def test_settings_are_checked_at_once(self, client: Any) -> None:
        with pytest.raises(ConfigError, match="LABCAS_MWAA_ENV_NAME"):
            mwaa_engine("", client=client)
        with pytest.raises(ConfigError, match="v1 or v2"):
            mwaa_engine(ENV, client=client, api_version="v9")


class TestRequests:
    def test_a_listing_becomes_path_and_query_parameters(self, client: Any, stub: Stubber) -> None:
        page = {"dags": [{"dag_id": "a"}], "total_entries": 1}
        invoke(stub, "/dags", page, QueryParameters={"limit": "100", "offset": "0"})
        assert [w.id for w in engine_for(client).list_workflows()] == ["a"]

    def test_a_batch_run_listing_becomes_a_post_with_a_body(
        self, client: Any, stub: Stubber
    ) -> None:
        runs = [dag_run("labcas__thomas__1"), dag_run("labcas__dliu__1", "dliu")]
        body = {"dag_ids": [DAG], "order_by": "-id", "page_offset": 0, "page_limit": 1000}
        invoke(
            stub,
            "/dags/~/dagRuns/list",
            {"dag_runs": runs, "total_entries": 2},
            Method="POST",
            Body=body,
        )
        listed = engine_for(client).list_user_runs(
            [DAG], username="thomas", run_id_prefix="labcas__thomas__"
        )
        assert [r.run_id for r in listed] == ["labcas__thomas__1"]

    def test_trigger_on_airflow_3_sends_a_null_logical_date(
        self, client: Any, stub: Stubber
    ) -> None:
        body = {"dag_run_id": "r", "conf": {"username": "thomas"}, "logical_date": None}
        invoke(stub, f"/dags/{DAG}/dagRuns", dag_run("r"), Method="POST", Body=body)
        assert engine_for(client, "v2").trigger_run(DAG, "r", {"username": "thomas"}).run_id == "r"


class TestAirflowErrors:
    def test_airflow_404_is_not_found(self, client: Any, stub: Stubber) -> None:
        invoke_error(stub, "RestApiClientException", 404, {"detail": "DAG not found"})
        with pytest.raises(NotFound, match="DAG not found"):
            engine_for(client).get_workflow("nope")

    def test_airflow_409_on_trigger_is_a_conflict(self, client: Any, stub: Stubber) -> None:
        invoke_error(stub, "RestApiClientException", 409, {"detail": "already exists"})
        with pytest.raises(Conflict):
            engine_for(client).trigger_run(DAG, "r", {})

    def test_airflow_400_on_trigger_is_invalid_parameters(self, client: Any, stub: Stubber) -> None:
        detail = "Invalid input for param tile_size: 2 is less than the minimum of 8"
        invoke_error(stub, "RestApiClientException", 400, {"detail": detail})
        with pytest.raises(InvalidParameters, match="tile_size"):
            engine_for(client).trigger_run(DAG, "r", {"tile_size": 2})

    def test_airflow_500_is_a_bad_upstream_response(self, client: Any, stub: Stubber) -> None:
        invoke_error(stub, "RestApiServerException", 500, {"detail": "boom"})
        with pytest.raises(UpstreamBadResponse, match="500"):
            engine_for(client).get_workflow("x")

    def test_airflow_503_is_retried_then_unavailable(self, client: Any, stub: Stubber) -> None:
        for _ in range(3):
            invoke_error(stub, "RestApiServerException", 503, {"detail": "starting"})
        with pytest.raises(UpstreamUnavailable):
            engine_for(client).get_workflow("x")

    def test_airflow_refusing_the_token_of_aws_is_passed_on_once(
        self, client: Any, stub: Stubber
    ) -> None:
        # AWS calls Airflow with credentials of its own: the engine has nothing to renew.
        invoke_error(stub, "RestApiClientException", 403, {"detail": "Invalid JWT token"})
        with pytest.raises(UpstreamBadResponse, match=r"403.*Invalid JWT token"):
            engine_for(client, "v2").get_workflow("x")

    def test_server_exception_without_a_status_is_a_502(self, client: Any, stub: Stubber) -> None:
        for _ in range(3):
            invoke_error(stub, "RestApiServerException")
        with pytest.raises(UpstreamBadResponse, match="502"):
            engine_for(client).get_workflow("x")


class TestAwsErrors:
    def test_throttling_is_retried_then_unavailable(self, client: Any, stub: Stubber) -> None:
        for _ in range(3):
            invoke_error(stub, "ThrottlingException")
        with pytest.raises(UpstreamUnavailable, match="Throttling"):
            engine_for(client).get_workflow("x")

    def test_throttling_once_is_absorbed(self, client: Any, stub: Stubber) -> None:
        invoke_error(stub, "ThrottlingException")
        invoke(stub, "/dags/x/details", {"dag_id": "x"})
        assert engine_for(client).get_workflow("x").id == "x"

    def test_writes_are_not_retried(self, client: Any, stub: Stubber) -> None:
        invoke_error(stub, "ThrottlingException")
        with pytest.raises(UpstreamUnavailable):
            engine_for(client).trigger_run(DAG, "r", {})

    def test_access_denied_names_the_permission(self, client: Any, stub: Stubber) -> None:
        stub.add_client_error("invoke_rest_api", "AccessDeniedException", http_status_code=403)
        with pytest.raises(UpstreamBadResponse, match="airflow:InvokeRestApi"):
            engine_for(client).get_workflow("x")

    def test_unreachable_mwaa_is_unavailable(self) -> None:
        class Unreachable:
            def invoke_rest_api(self, **_: Any) -> Any:
                raise EndpointConnectionError(endpoint_url="https://env.airflow.example")

        engine = mwaa_engine(ENV, client=Unreachable(), api_version="v1", sleep=lambda _: None)
        with pytest.raises(UpstreamUnavailable, match="MWAA"):
            engine.get_workflow("x")


class TestLogs:
    def test_airflow_2_log_json_becomes_its_text(self, client: Any, stub: Stubber) -> None:
        content = str([("worker", "*** Found local files\n[2026] INFO - waited 1 seconds\n")])
        invoke(
            stub,
            "/dags/d/dagRuns/r/taskInstances/t/logs/1",
            {"content": content, "continuation_token": "x"},
            QueryParameters={"full_content": "true", "map_index": "-1"},
        )
        text = b"".join(engine_for(client).task_log("d", "r", "t", 1)).decode()
        assert text == "*** Found local files\n[2026] INFO - waited 1 seconds\n"

    def test_airflow_3_log_records_become_lines(self, client: Any, stub: Stubber) -> None:
        records = [{"event": "waited 1 seconds", "level": "info", "timestamp": "2026-01-01T00"}]
        invoke(
            stub,
            "/dags/d/dagRuns/r/taskInstances/t/logs/1",
            {"content": records, "continuation_token": None},
            QueryParameters={"full_content": "true", "map_index": "-1"},
        )
        text = b"".join(engine_for(client, "v2").task_log("d", "r", "t", 1)).decode()
        assert text == "[2026-01-01T00] INFO - waited 1 seconds\n"


# -- mwaa-web-login ---------------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


class WebServer:
    """The environment's web server: ``/aws_mwaa/login`` and a session-protected API."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.sessions: set[str] = set()
        self.logins = 0
        self.refuse: Handler | None = None
        self.login_answer: httpx.Response | None = None
        #: the answer to a session it does not know: 401, or Airflow 3's 403 after a key change
        self.unknown_session = (401, {"detail": "Unauthorized"})
        self.routes: dict[tuple[str, str], Handler] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/aws_mwaa/login":
            assert request.method == "POST"
            assert request.content.decode().startswith("token=web-token-")
            if self.login_answer is not None:
                return self.login_answer
            self.logins += 1
            session = f"s{self.logins}"
            self.sessions.add(session)
            return httpx.Response(
                302, headers={"Location": "/home", "Set-Cookie": f"session={session}; Path=/"}
            )
        if self.refuse is not None:
            return self.refuse(request)
        if request.headers.get("Cookie", "").removeprefix("session=") not in self.sessions:
            status, body = self.unknown_session
            return httpx.Response(status, json=body)
        if route := self.routes.get((request.method, request.url.path)):
            return route(request)
        return httpx.Response(200, json={"dags": [{"dag_id": "a"}], "total_entries": 1})


@pytest.fixture
def web() -> WebServer:
    return WebServer()


def web_engine(client: Any, web: WebServer) -> AirflowEngine:
    return mwaa_web_login_engine(
        ENV, client=client, api_version="v1", inner=httpx.MockTransport(web)
    )


def web_token(stub: Stubber, n: int = 1) -> None:
    for i in range(n):
        answer = {"WebToken": f"web-token-{i}", "WebServerHostname": "abc.airflow.example"}
        stub.add_response("create_web_login_token", answer, {"Name": ENV})


class TestWebLogin:
    def test_logs_in_once_and_sends_the_session_cookie_to_the_web_server(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        web_token(stub)
        engine = web_engine(client, web)
        engine.list_workflows()
        engine.list_workflows()
        login, first, second = web.requests
        assert str(login.url) == "https://abc.airflow.example/aws_mwaa/login"
        assert login.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert first.url.host == "abc.airflow.example" and first.url.path == "/api/v1/dags"
        assert first.headers["Cookie"] == second.headers["Cookie"] == "session=s1"
        assert "Authorization" not in first.headers

    def test_an_expired_session_logs_in_again_once(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        web_token(stub, 2)
        engine = web_engine(client, web)
        engine.list_workflows()
        web.sessions.clear()
        assert [w.id for w in engine.list_workflows()] == ["a"]
        assert web.logins == 2
        assert web.requests[-1].headers["Cookie"] == "session=s2"

    def test_a_redirect_to_the_login_page_logs_in_again(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        web_token(stub, 2)
        engine = web_engine(client, web)
        engine.list_workflows()
        answers = iter([httpx.Response(302, headers={"Location": "/login/?next=%2Fapi"})])

        def once(request: httpx.Request) -> httpx.Response:
            web.refuse = None
            return next(answers)

        web.refuse = once
        assert [w.id for w in engine.list_workflows()] == ["a"]
        assert web.logins == 2

    def test_a_session_airflow_3_cannot_verify_logs_in_again_once(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        web_token(stub, 2)
        engine = web_engine(client, web)
        engine.list_workflows()
        web.sessions.clear()  # e.g. Airflow restarted with a new JWT secret
        web.unknown_session = (403, {"detail": "Invalid JWT token"})
        assert [w.id for w in engine.list_workflows()] == ["a"]
        assert web.logins == 2

    def test_a_session_refused_again_after_login_is_a_bad_upstream_response(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        web_token(stub, 2)
        web.refuse = lambda request: httpx.Response(401, json={"detail": "Unauthorized"})
        with pytest.raises(UpstreamBadResponse, match="refused a fresh web-login session"):
            web_engine(client, web).list_workflows()
        assert web.logins == 2

    def test_a_permission_refused_is_no_reason_to_log_in_again(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        web_token(stub)
        web.refuse = lambda request: httpx.Response(403, json={"detail": "Forbidden"})
        with pytest.raises(UpstreamBadResponse, match="403"):
            web_engine(client, web).list_workflows()
        assert web.logins == 1
        assert len(web.requests) == 2  # the login, the request

    def test_a_refused_token_is_a_bad_upstream_response(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        web_token(stub)
        web.login_answer = httpx.Response(403, text="expired token")
        with pytest.raises(UpstreamBadResponse, match="refused the web login token"):
            web_engine(client, web).list_workflows()

    def test_a_login_without_a_cookie_is_a_bad_upstream_response(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        web_token(stub)
        web.login_answer = httpx.Response(302, headers={"Location": "/home"})
        with pytest.raises(UpstreamBadResponse, match="no session cookie"):
            web_engine(client, web).list_workflows()

    def test_a_role_without_the_permission_is_told_which(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        stub.add_client_error(
            "create_web_login_token", "AccessDeniedException", http_status_code=403
        )
        with pytest.raises(UpstreamBadResponse, match="airflow:CreateWebLoginToken"):
            web_engine(client, web).list_workflows()


class TestBuildEngine:
    @pytest.fixture(autouse=True)
    def no_aws_config(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    @pytest.mark.parametrize("kind", ["mwaa", "mwaa-web-login"])
    def test_mwaa_engines_are_built_without_calling_aws(
        self, monkeypatch: pytest.MonkeyPatch, kind: str
    ) -> None:
        monkeypatch.setenv("AWS_REGION", "us-west-2")
        settings = Settings(engine=kind, mwaa_env_name=ENV, mwaa_api="v1")  # type: ignore[arg-type]
        engine = build_engine(settings)
        assert isinstance(engine, AirflowEngine)
        assert engine.base_url == f"mwaa://{ENV}"
        environment = engine._http._transport.inner.environment  # type: ignore[attr-defined]
        assert environment.clients.configured().meta.region_name == "us-west-2"

    def test_missing_environment_name_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="LABCAS_MWAA_ENV_NAME"):
            build_engine(Settings(engine="mwaa", mwaa_env_name=""))

    def test_missing_region_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="AWS_REGION"):
            build_engine(Settings(engine="mwaa", mwaa_env_name=ENV))


def test_query_parameters_keep_repeated_keys_as_lists() -> None:
    request = httpx.Request("GET", "mwaa://e/api/v2/x", params={"state": ["a", "b"], "n": "1"})
    assert query_parameters(request) == {"state": ["a", "b"], "n": "1"}
    assert json.dumps(query_parameters(request))


class TestLongPaths:
    """``mwaa``: a request whose path ``InvokeRestApi`` cannot take (over 64 characters) and
    that no listing can replace goes through the web server with a web-login session."""

    RUN = "labcas__thomas__20261128T101010123456"
    KEYED = "labcas__thomas__k0123456789abcdef01234567"  # started with an Idempotency-Key

    @staticmethod
    def engine(client: Any, web: WebServer, api_version: str = "v2") -> AirflowEngine:
        return mwaa_engine(
            ENV,
            client=client,
            api_version=api_version,
            inner=httpx.MockTransport(web),
            sleep=lambda _: None,
        )

    def test_a_task_log_goes_through_the_web_server(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        web_token(stub)
        path = f"/api/v2/dags/{DAG}/dagRuns/{self.RUN}/taskInstances/segment/logs/1"
        record = json.dumps({"event": "waited 1 seconds", "level": "info"})
        web.routes["GET", path] = lambda request: httpx.Response(200, text=record + "\n")
        text = b"".join(self.engine(client, web).task_log(DAG, self.RUN, "segment", 1))
        assert text.decode() == "INFO - waited 1 seconds\n"
        login, sent = web.requests
        assert login.url.path == "/aws_mwaa/login"
        assert (sent.url.host, sent.headers["Cookie"]) == ("abc.airflow.example", "session=s1")
        assert sent.headers["Accept"] == "application/x-ndjson"
        assert sent.url.params["full_content"] == "true"

    @pytest.mark.parametrize("api_version", ["v1", "v2"])
    def test_cancel_of_a_keyed_run_goes_through_the_web_server(
        self, client: Any, stub: Stubber, web: WebServer, api_version: str
    ) -> None:
        web_token(stub)
        path = f"/api/{api_version}/dags/{DAG}/dagRuns/{self.KEYED}"
        running = {**dag_run(self.KEYED), "state": "running"}
        patches: list[str] = []

        def patch(request: httpx.Request) -> httpx.Response:
            patches.append(request.url.path)
            note = f"{CANCEL_NOTE} by thomas"
            return httpx.Response(200, json={**running, "state": "failed", "note": note})

        web.routes["GET", path] = lambda request: httpx.Response(200, json=running)
        web.routes["PATCH", path] = web.routes["PATCH", path + "/setNote"] = patch
        engine = self.engine(client, web, api_version)
        assert engine.cancel_run(DAG, self.KEYED, by="thomas").status is RunStatus.CANCELLED
        assert patches == ([path] if api_version == "v2" else [path + "/setNote", path])
        assert web.logins == 1

    def test_short_paths_stay_on_invoke_rest_api(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        invoke(stub, "/dags/x/details", {"dag_id": "x"})
        assert self.engine(client, web).get_workflow("x").id == "x"
        assert web.requests == []

    def test_a_role_without_web_login_is_told_which_permission(
        self, client: Any, stub: Stubber, web: WebServer
    ) -> None:
        stub.add_client_error(
            "create_web_login_token", "AccessDeniedException", http_status_code=403
        )
        with pytest.raises(UpstreamBadResponse, match="airflow:CreateWebLoginToken"):
            self.engine(client, web).task_log(DAG, self.RUN, "segment", 1)
