"""The API Lambda handler over fakes: captured API Gateway events in, proxy results out."""

from __future__ import annotations

import base64
import copy
import json
import logging
import os
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.aws import api as api_module
from labcas_workflow_api.aws.api import ApiRuntime
from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.edge import ALLOW_ORIGIN_KEY, REQUEST_ID_KEY, TRUSTED_USERNAME_KEY
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.settings import Settings
from tests.unit.fakes import SECRET, FakeEngine, FakeStore, write_config
from tests.unit.test_aws_events import (
    PROXY_EVENTS,
    body_of,
    header_of,
    load_event,
    proxy_event,
    set_header,
)

ORIGIN = "https://edrn-labcas.jpl.nasa.gov"
HOST = "k7xq2v9m1d.execute-api.us-west-2.amazonaws.com"
GATEWAY_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
Runtime = ApiRuntime
MakeRuntime = Callable[..., Runtime]


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "config": str(write_config(tmp_path)),
        "jwt_secret": SECRET,
        "staging_bucket": "labcas-staging",
        **overrides,
    }
    return Settings(**values, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[MakeRuntime]:
    """Builds a runtime around an app, or around the real one over fakes."""
    made: list[Runtime] = []

    def make(app: Any = None, *, base_path: str = "", **settings: Any) -> Runtime:
        if app is None:
            config = settings_for(tmp_path, base_path=base_path, **settings)
            container = build_container(config, engine=FakeEngine(), store=FakeStore())
            app = create_app(container=container)
        runtime = ApiRuntime(app, base_path=base_path)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()


@pytest.fixture
def runtime(make_runtime: MakeRuntime) -> Runtime:
    return make_runtime()


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app answering with what it was given."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = {
        "path": scope["path"],
        "root_path": scope["root_path"],
        "scheme": scope["scheme"],
        "server": list(scope["server"]),
        "query_string": scope["query_string"].decode(),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "body": base64.b64encode(body).decode(),
        "labcas": {k: v for k, v in scope.items() if k.startswith("labcas.")},
    }
    payload = json.dumps(answer).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def echoed(runtime: Runtime, event: dict[str, Any]) -> dict[str, Any]:
    result = runtime.handle(event, None)
    assert result["statusCode"] == 200, result
    answer: dict[str, Any] = body_of(result)
    return answer


def header(answer: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in answer["headers"] if k == name]


class TestTheScope:
    """What the app is given."""

    @pytest.fixture
    def echo_runtime(self, make_runtime: MakeRuntime) -> Runtime:
        return make_runtime(echo)

    def test_the_stage_becomes_the_root_path_and_the_path_keeps_it(
        self, echo_runtime: Runtime
    ) -> None:
        answer = echoed(echo_runtime, load_event("api_get_data_selections.json"))
        assert (answer["root_path"], answer["path"]) == ("/dev", "/dev/data-selections")
        assert answer["scheme"] == "https"
        assert answer["server"] == [HOST, 443]
        assert answer["query_string"] == ""

    def test_a_custom_domain_without_base_path_has_no_root_path(
        self, echo_runtime: Runtime
    ) -> None:
        event = load_event("api_get_data_selections.json")
        event["requestContext"].update(path="/data-selections", domainName="api.example.org")
        answer = echoed(echo_runtime, event)
        assert (answer["root_path"], answer["path"]) == ("", "/data-selections")
        assert header(answer, "host") == ["api.example.org"]

    def test_the_base_path_is_stripped_before_routing_and_is_the_root_path(
        self, make_runtime: MakeRuntime
    ) -> None:
        answer = echoed(
            make_runtime(echo, base_path="workflows"), load_event("api_get_healthz_base_path.json")
        )
        assert (answer["root_path"], answer["path"]) == ("/workflows", "/workflows/healthz")
        assert answer["server"] == ["api.example.org", 443]

    def test_query_string_from_multi_value_parameters(self, echo_runtime: Runtime) -> None:
        event = proxy_event("GET", "/x", query={"data_id": "a/b c"})
        event["multiValueQueryStringParameters"] = {"data_id": ["a/b c"], "k": ["1", "2"]}
        pairs = parse_qsl(echoed(echo_runtime, event)["query_string"])
        assert pairs == [("data_id", "a/b c"), ("k", "1"), ("k", "2")]

    def test_a_base64_body_is_decoded_and_its_length_sent(self, echo_runtime: Runtime) -> None:
        answer = echoed(echo_runtime, load_event("api_post_run_base64.json"))
        body = base64.b64decode(answer["body"])
        assert json.loads(body)["params"] == {"tile_size": 32}
        assert header(answer, "content-length") == [str(len(body))]
        assert header(answer, "idempotency-key")

    def test_a_percent_encoded_path_is_decoded(self, echo_runtime: Runtime) -> None:
        answer = echoed(echo_runtime, proxy_event("GET", "/output-data/a%20b/%2e%2e/c"))
        assert answer["path"] == "/dev/output-data/a b/../c"

    def test_the_authorizer_context_gives_the_trusted_keys(self, echo_runtime: Runtime) -> None:
        answer = echoed(echo_runtime, load_event("api_get_data_selections.json"))
        assert answer["labcas"] == {
            TRUSTED_USERNAME_KEY: "thomas",
            ALLOW_ORIGIN_KEY: ORIGIN,
            REQUEST_ID_KEY: GATEWAY_ID,
        }

    @pytest.mark.parametrize(
        ("change", "why"),
        [
            (lambda a: a.update(principalId="eve"), "principal differs"),
            (lambda a: a.update(principalId="../x", username="../x"), "not a user name"),
            (lambda a: a.update(principalId="thomas\n", username="thomas\n"), "trailing newline"),
            (lambda a: a.pop("username"), "no username"),
        ],
        ids=lambda v: v if isinstance(v, str) else "",
    )
    def test_an_unusable_authorizer_context_gives_no_user(
        self, echo_runtime: Runtime, change: Callable[[dict[str, Any]], Any], why: str
    ) -> None:
        event = load_event("api_get_data_selections.json")
        change(event["requestContext"]["authorizer"])
        assert TRUSTED_USERNAME_KEY not in echoed(echo_runtime, event)["labcas"], why

    def test_identity_headers_are_never_trusted(self, echo_runtime: Runtime) -> None:
        event = proxy_event("GET", "/data-selections", username=None)
        event["headers"]["labcas.username"] = "thomas"
        event["multiValueHeaders"]["X-Labcas-Username"] = ["thomas"]
        assert TRUSTED_USERNAME_KEY not in echoed(echo_runtime, event)["labcas"]

    def test_the_host_is_the_domain_name_whatever_the_headers(self, echo_runtime: Runtime) -> None:
        answer = echoed(echo_runtime, load_event("api_get_workflows_hostile_headers.json"))
        assert header(answer, "host") == [HOST]
        assert answer["server"] == [HOST, 443]
        assert answer["scheme"] == "https"

    @pytest.mark.parametrize(
        "event",
        [None, [], "GET /", {"httpMethod": "GET", "path": "/healthz"}, {"Records": []}],
        ids=["none", "list", "string", "no-context", "sqs"],
    )
    def test_events_that_are_not_proxy_events_are_a_400(
        self, echo_runtime: Runtime, event: Any
    ) -> None:
        result = echo_runtime.handle(event, None)
        assert result["statusCode"] == 400
        assert header_of(result, "content-type") == "application/problem+json"

    @pytest.mark.parametrize(
        "field", ["identity", "domainName", "requestId", "apiId", "stage", "accountId"]
    )
    def test_an_event_without_a_request_context_field_is_a_400(
        self, echo_runtime: Runtime, field: str
    ) -> None:
        event = load_event("api_get_healthz.json")
        del event["requestContext"][field]
        assert echo_runtime.handle(event, None)["statusCode"] == 400

    def test_a_bad_base64_body_is_a_400(self, echo_runtime: Runtime) -> None:
        event = proxy_event("POST", "/workflows/w/runs")
        event.update(body="not base64!!", isBase64Encoded=True)
        result = echo_runtime.handle(event, None)
        assert result["statusCode"] == 400
        assert "base64" in body_of(result)["detail"]


def answering(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class TestProxyResult:
    def test_json_is_text_and_headers_are_multi_valued(self, make_runtime: MakeRuntime) -> None:
        headers = [(b"content-type", b"application/json"), (b"vary", b"Origin")]
        headers.append((b"vary", b"Accept"))
        result = make_runtime(answering(200, headers, b'{"a": 1}')).handle(
            load_event("api_get_healthz.json"), None
        )
        assert result["statusCode"] == 200
        assert result["body"] == '{"a": 1}' and result["isBase64Encoded"] is False
        assert result["multiValueHeaders"]["vary"] == ["Origin", "Accept"]
        assert result["multiValueHeaders"]["content-type"] == ["application/json"]
        assert not result.get("headers")

    @pytest.mark.parametrize("content_type", [b"image/png", b"application/octet-stream", b""])
    def test_binary_is_base64(self, make_runtime: MakeRuntime, content_type: bytes) -> None:
        app = answering(200, [(b"content-type", content_type)], b"\x89PNG\x00\xff")
        result = make_runtime(app).handle(load_event("api_get_healthz.json"), None)
        assert result["isBase64Encoded"] is True
        assert base64.b64decode(result["body"]) == b"\x89PNG\x00\xff"

    def test_problem_json_is_text(self, make_runtime: MakeRuntime) -> None:
        app = answering(404, [(b"content-type", b"application/problem+json")], b'{"status": 404}')
        result = make_runtime(app).handle(load_event("api_get_healthz.json"), None)
        assert result["isBase64Encoded"] is False
        assert body_of(result) == {"status": 404}


HOSTILE_HEADERS: list[dict[str, Any]] = [
    {"X-Forwarded-Port": "not-a-port"},
    {"X-Forwarded-Port": "443, 80"},
    {"X-Forwarded-Port": "-1"},
    {"X-Forwarded-Proto": "gopher"},
    {"X-Forwarded-Proto": ""},
    {"Host": "a:b:c"},
    {"Host": "h" * 70_000},
    {"Host": ""},
    {"Host": "ex\u00e4mple.org"},
    {"X-Forwarded-Host": "evil.example"},
    {"X-Request-ID": "abc\r\nSet-Cookie: x=1"},
    {"X-Request-ID": "a" * 10_000},
    {"Origin": "https://evil.example"},
    {"Origin": "\x00"},
    {"Content-Length": "-5"},
    {"Content-Length": "lots"},
    {"Content-Type": "application/json; charset=\u00ff"},
    {"Authorization": "Bearer \udcff"},
    {"Accept": "\ud800"},
    {"User-Agent": "\u00ff\u00fe\u0000\u2028"},
    {"X-Huge": "x" * 200_000},
    {"Bad Name": "v"},
    {"n\u00e4me": "v"},
    {"": "empty name"},
    {"X-Null": None},
    {"X-Number": 42},
    {"X-List": ["a", "b"]},
    {"X-Dict": {"a": "b"}},
]


class TestHostileHeaders:
    """No header value makes the handler raise or answer a 5xx."""

    @staticmethod
    def sane(result: Any) -> None:
        assert isinstance(result, dict), result
        assert isinstance(result["statusCode"], int) and result["statusCode"] < 500, result
        if result["statusCode"] >= 400:
            assert header_of(result, "content-type") == "application/problem+json", result
        assert all(
            isinstance(v, str) and "\n" not in v and "\r" not in v
            for values in result["multiValueHeaders"].values()
            for v in values
        ), result["multiValueHeaders"]

    @pytest.mark.parametrize("headers", HOSTILE_HEADERS, ids=lambda h: repr(h)[:40])
    @pytest.mark.parametrize("where", ["headers", "multiValueHeaders", "both"])
    def test_a_table_of_hostile_values(
        self, runtime: Runtime, headers: dict[str, Any], where: str
    ) -> None:
        event = load_event("api_get_workflows.json")
        for name, value in headers.items():
            if where in ("headers", "both"):
                event["headers"][name] = value
            if where in ("multiValueHeaders", "both"):
                event["multiValueHeaders"][name] = [value, value]
            if where == "headers":
                event["multiValueHeaders"] = None
        result = runtime.handle(event, None)
        self.sane(result)
        assert result["statusCode"] == 200

    def test_the_captured_hostile_event(self, runtime: Runtime) -> None:
        result = runtime.handle(load_event("api_get_workflows_hostile_headers.json"), None)
        self.sane(result)
        assert result["statusCode"] == 200
        assert header_of(result, "x-request-id") == GATEWAY_ID
        assert header_of(result, "access-control-allow-origin") in (ORIGIN, None)

    @pytest.mark.parametrize("headers", ["x", 42, ["a"], {"a": ["b", None, 3]}])
    def test_header_maps_that_are_not_maps(self, runtime: Runtime, headers: Any) -> None:
        event = load_event("api_get_workflows.json")
        event["headers"] = headers
        event["multiValueHeaders"] = headers
        self.sane(runtime.handle(event, None))

    @hypothesis_settings(
        max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        headers=st.dictionaries(
            st.text(min_size=0, max_size=30),
            st.one_of(
                st.text(max_size=300),
                st.lists(st.text(max_size=50), max_size=3),
                st.none(),
                st.integers(),
            ),
            max_size=8,
        ),
        multi=st.booleans(),
    )
    def test_any_header_values(
        self, runtime: Runtime, headers: dict[str, Any], multi: bool
    ) -> None:
        event = load_event("api_get_workflows.json")
        if multi:
            event["multiValueHeaders"].update(headers)
        else:
            event["headers"].update(headers)
            event["multiValueHeaders"] = None
        self.sane(runtime.handle(event, None))


class TestHandler:
    @pytest.mark.parametrize("name", PROXY_EVENTS)
    def test_every_captured_event_gets_an_answer_that_is_not_a_5xx(
        self, runtime: Runtime, name: str
    ) -> None:
        result = runtime.handle(load_event(name), None)
        assert result["statusCode"] < 500, result
        assert header_of(result, "access-control-allow-origin") in (ORIGIN, None)

    def test_links_are_built_on_the_domain_name_and_the_stage(self, runtime: Runtime) -> None:
        event = load_event("api_post_run_text_plain.json")
        set_header(event, "Host", "evil.example")
        set_header(event, "X-Forwarded-Host", "evil.example")
        set_header(event, "X-Forwarded-Proto", "http")
        result = runtime.handle(event, None)
        assert result["statusCode"] == 201, result
        assert body_of(result)["output_url"].startswith(f"https://{HOST}/dev/output-data/")

    def test_with_a_base_path_healthz_is_healthz(self, make_runtime: MakeRuntime) -> None:
        event = load_event("api_get_healthz_base_path.json")
        without = make_runtime().handle(event, None)
        assert without["statusCode"] == 401  # routed as the workflow "healthz": a token needed
        result = make_runtime(base_path="workflows").handle(event, None)
        assert result["statusCode"] == 200, result
        assert body_of(result) == {"status": "ok"}

    def test_with_a_base_path_links_carry_it(self, make_runtime: MakeRuntime) -> None:
        event = load_event("api_post_run_text_plain.json")
        event["path"] = "/workflows" + event["path"]
        event["requestContext"].update(path=event["path"], domainName="api.example.org")
        result = make_runtime(base_path="/workflows/").handle(event, None)
        assert result["statusCode"] == 201, result
        output_url = body_of(result)["output_url"]
        assert output_url.startswith("https://api.example.org/workflows/output-data/")
        listing = copy.deepcopy(event)
        listing.update(httpMethod="GET", path="/workflows/workflows", body=None)
        listing["requestContext"]["path"] = "/workflows/workflows"
        answer = make_runtime(base_path="workflows").handle(listing, None)
        assert "nebraska_demo" in [w["id"] for w in body_of(answer)["workflows"]]

    def test_base64_body_is_decoded(self, runtime: Runtime) -> None:
        result = runtime.handle(load_event("api_post_run_base64.json"), None)
        assert result["statusCode"] == 201, result

    def test_cors_origin_comes_from_the_stage_variable(self, runtime: Runtime) -> None:
        result = runtime.handle(load_event("api_get_workflows.json"), None)
        assert header_of(result, "access-control-allow-origin") == ORIGIN
        event = load_event("api_get_workflows.json")
        event["stageVariables"] = {"allowOrigin": "https://other.example, " + ORIGIN}
        assert header_of(runtime.handle(event, None), "access-control-allow-origin") == ORIGIN
        event["stageVariables"] = {"allowOrigin": "https://other.example"}
        assert header_of(runtime.handle(event, None), "access-control-allow-origin") is None

    def test_errors_are_problem_json_with_cors(self, runtime: Runtime) -> None:
        event = proxy_event("GET", "/workflows/no_such_dag", headers={"origin": ORIGIN})
        result = runtime.handle(event, None)
        assert result["statusCode"] == 404
        assert header_of(result, "content-type") == "application/problem+json"
        assert header_of(result, "access-control-allow-origin") == ORIGIN
        assert body_of(result)["status"] == 404

    def test_the_request_id_is_api_gateways_unless_the_caller_sent_one(
        self, runtime: Runtime
    ) -> None:
        event = load_event("api_get_workflows.json")
        assert header_of(runtime.handle(event, None), "x-request-id") == GATEWAY_ID
        event["headers"]["X-Request-ID"] = "client-chosen-1"
        event.pop("multiValueHeaders", None)
        assert header_of(runtime.handle(event, None), "x-request-id") == "client-chosen-1"

    def test_without_authorizer_context_the_token_is_verified(self, runtime: Runtime) -> None:
        no_token = runtime.handle(proxy_event("GET", "/data-selections", username=None), None)
        assert no_token["statusCode"] == 401
        assert header_of(no_token, "www-authenticate")
        token = mint_token(SECRET, "dliu")
        with_token = proxy_event("GET", "/data-selections", username=None, token=token)
        assert runtime.handle(with_token, None)["statusCode"] == 200

    def test_a_direct_invocation_cannot_claim_an_identity(self, runtime: Runtime) -> None:
        event = proxy_event("GET", "/data-selections")
        del event["requestContext"]["identity"]
        result = runtime.handle(event, None)
        assert result["statusCode"] == 400
        assert body_of(result)["title"] == "Bad request"

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ("{not json", 400),
            ("[1, 2]", 400),
            ('{"tile_size": 64}', 400),
            ('{"in_data_selection": "nebraska_images", "username": "eve"}', 400),
            ('{"in_data_selection": "nebraska_images", "out_prefix": "x"}', 400),
            ('{"in_data_selection": "nebraska_images", "workflow_id": "other"}', 400),
            ('{"in_data_selection": "no_such_collection"}', 404),
            ('{"in_data_selection": "private"}', 404),
            ('{"in_data_selection": "other/images"}', 403),
            ('{"in_data_selection": "nebraska_images", "tile_size": 2}', 422),
            ('{"in_data_selection": "nebraska_images", "tile_size": "big"}', 422),
        ],
    )
    def test_bad_run_requests(self, runtime: Runtime, body: str, status: int) -> None:
        event = proxy_event(
            "POST", "/workflows/nebraska_demo/runs", body=body, content_type="text/plain"
        )
        result = runtime.handle(event, None)
        assert result["statusCode"] == status, result
        assert header_of(result, "content-type") == "application/problem+json"

    @pytest.mark.parametrize(
        "path",
        ["/output-data/../eve", "/output-data/a/%2e%2e/%2e%2e/eve", "/output-data/a\\b"],
        ids=["dotdot", "encoded-dotdot", "backslash"],
    )
    def test_hostile_output_paths(self, runtime: Runtime, path: str) -> None:
        result = runtime.handle(proxy_event("GET", path), None)
        assert result["statusCode"] == 400, result

    def test_an_unexpected_error_is_a_500_problem_with_the_request_id(
        self, make_runtime: MakeRuntime
    ) -> None:
        async def broken(scope: Any, receive: Any, send: Any) -> None:
            raise RuntimeError("boom")

        event = load_event("api_get_workflows.json")
        result = make_runtime(broken).handle(event, None)
        assert result["statusCode"] == 500
        assert header_of(result, "content-type") == "application/problem+json"
        assert GATEWAY_ID in body_of(result)["detail"]
        assert "boom" not in result["body"]


def _failing_client(service: str, operation: str) -> Any:
    client = boto3.client(service, region_name="us-west-2")
    stub = Stubber(client)
    for _ in range(5):
        stub.add_client_error(operation, "InternalServerError", http_status_code=500)
    stub.activate()
    return client


class TestOutages:
    """A configuration or secret outage is a 503 problem, never a 401 or 403."""

    def test_an_unreadable_access_config_is_a_503(
        self, make_runtime: MakeRuntime, tmp_path: Path
    ) -> None:
        settings = settings_for(tmp_path, config="ssm:/labcas/config")
        container = build_container(
            settings,
            engine=FakeEngine(),
            store=FakeStore(),
            ssm_client=_failing_client("ssm", "get_parameter"),
        )
        result = make_runtime(create_app(container=container)).handle(
            load_event("api_get_data_selections.json"), None
        )
        assert result["statusCode"] == 503, result
        assert header_of(result, "content-type") == "application/problem+json"

    def test_an_unreadable_jwt_secret_is_a_503(
        self, make_runtime: MakeRuntime, tmp_path: Path
    ) -> None:
        settings = settings_for(tmp_path, jwt_secret="", jwt_secret_arn="labcas/jwt")
        container = build_container(
            settings,
            engine=FakeEngine(),
            store=FakeStore(),
            secretsmanager_client=_failing_client("secretsmanager", "get_secret_value"),
        )
        event = proxy_event(
            "GET", "/data-selections", username=None, token=mint_token(SECRET, "thomas")
        )
        result = make_runtime(create_app(container=container)).handle(event, None)
        assert result["statusCode"] == 503, result

    def test_an_empty_jwt_secret_is_a_503(self, make_runtime: MakeRuntime, tmp_path: Path) -> None:
        (tmp_path / "secret").write_text("\n")
        runtime = make_runtime(jwt_secret="", jwt_secret_file=str(tmp_path / "secret"))
        event = proxy_event(
            "GET", "/data-selections", username=None, token=mint_token(SECRET, "thomas")
        )
        assert runtime.handle(event, None)["statusCode"] == 503


class TestModuleHandler:
    def test_the_app_is_built_once_per_container(self, monkeypatch: pytest.MonkeyPatch) -> None:
        built: list[int] = []

        class Runtime:
            def handle(self, event: Any, context: Any) -> dict[str, Any]:
                return {"statusCode": 204}

        def build() -> Any:
            built.append(1)
            return Runtime()

        monkeypatch.setattr(api_module, "_runtime", None)
        monkeypatch.setattr(api_module, "build_runtime", build)
        for _ in range(3):
            assert api_module.handler(load_event("api_get_healthz.json"), None)["statusCode"] == 204
        assert built == [1]

    def test_a_configuration_error_is_a_503_problem_naming_the_setting(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(api_module, "_runtime", None)
        monkeypatch.setenv("LABCAS_ENGINE", "no-such-engine")
        result = api_module.handler(
            proxy_event("GET", "/workflows", headers={"origin": ORIGIN}), None
        )
        assert result["statusCode"] == 503
        assert "LABCAS_ENGINE" in body_of(result)["detail"]
        assert header_of(result, "access-control-allow-origin") == ORIGIN
        assert api_module._runtime is None

    def test_an_unexpected_start_failure_is_a_500_with_the_request_id(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken() -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(api_module, "_runtime", None)
        monkeypatch.setattr(api_module, "build_runtime", broken)
        result = api_module.handler(load_event("api_get_healthz.json"), None)
        assert result["statusCode"] == 500
        assert GATEWAY_ID in body_of(result)["detail"] and "boom" not in result["body"]

    def test_init_builds_the_app_and_reads_nothing(self, tmp_path: Path) -> None:
        """What SnapStart snapshots: a built app, no connection, no config or secret read."""
        code = (
            "import socket\n"
            "def refuse(*args, **kwargs):\n"
            "    raise AssertionError('a network connection at init')\n"
            "socket.socket.connect = refuse\n"
            "socket.create_connection = refuse\n"
            "import labcas_workflow_api.aws.api as api\n"
            "import labcas_workflow_api.aws.authorizer as authorizer\n"
            "container = api._runtime.app.state.container\n"
            "assert container.access.value is None\n"
            "assert authorizer._authorizer is not None\n"
            "print('ok')\n"
        )
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": os.pathsep.join(sys.path),
            "LABCAS_CONFIG": "ssm:/labcas/config",
            "LABCAS_JWT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
            "LABCAS_ENGINE_URL": "http://127.0.0.1:9",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert done.stdout.strip() == "ok", done.stderr

    def test_after_a_snapstart_restore_the_container_is_new(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        hooks: list[Callable[[], None]] = []
        fake = types.ModuleType("snapshot_restore_py")
        fake.register_after_restore = hooks.append  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
        runtime = api_module.build_runtime(settings_for(tmp_path))
        monkeypatch.setattr(api_module, "_runtime", runtime)
        api_module._register_after_restore()
        before = runtime.app.state.container  # type: ignore[attr-defined]
        (hook,) = hooks
        hook()
        after = runtime.app.state.container  # type: ignore[attr-defined]
        assert after is not before and after.settings == before.settings
        assert runtime.handle(load_event("api_get_healthz.json"), None)["statusCode"] == 200
        broken = after.settings.model_copy(update={"engine": "mwaa", "mwaa_env_name": ""})
        monkeypatch.setattr(after, "settings", broken)
        monkeypatch.setenv("LABCAS_ENGINE", "mwaa")
        monkeypatch.delenv("LABCAS_MWAA_ENV_NAME", raising=False)
        hook()  # a restore never fails: the next event answers the problem
        assert api_module._runtime is None
        assert api_module.handler(load_event("api_get_healthz.json"), None)["statusCode"] == 503
        runtime.close()


def test_audit_records_reach_the_lambda_log() -> None:
    """The Lambda runtime leaves the root logger at WARNING: our loggers must say INFO."""
    assert logging.getLogger("labcas_workflow_api.audit").getEffectiveLevel() == logging.INFO


class TestDeadline:
    """A request still waiting when the invocation is about to end is answered 504 first."""

    def test_the_answer_comes_before_the_invocation_ends(
        self, make_runtime: MakeRuntime, tmp_path: Path
    ) -> None:
        from tests.unit.test_deadline import LambdaContext, SlowEngine

        config = settings_for(tmp_path)  # LABCAS_REQUEST_TIMEOUT: 50 s, longer than Lambda's
        app = create_app(container=build_container(config, engine=SlowEngine(5), store=FakeStore()))
        runtime = make_runtime(app)
        event = proxy_event("GET", "/workflows", template="api_get_workflows.json")
        began = time.monotonic()
        result = runtime.handle(event, LambdaContext(2.5))
        assert time.monotonic() - began < 2.5
        assert result["statusCode"] == 504, result
        assert header_of(result, "content-type") == "application/problem+json"
        assert body_of(result)["title"] == "Deadline exceeded"
        assert header_of(result, "access-control-allow-origin") == ORIGIN
        assert header_of(result, "x-request-id") == GATEWAY_ID
