"""The API Lambda handler over fakes: captured API Gateway events in, proxy results out."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.aws import api as api_module
from labcas_workflow_api.aws.api import ApiRuntime
from labcas_workflow_api.aws.proxy import (
    ALLOW_ORIGIN_KEY,
    TRUSTED_USERNAME_KEY,
    BadEvent,
    HttpResponse,
    to_request,
    trusted_username,
)
from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.settings import Settings
from tests.unit.fakes import SECRET, FakeEngine, FakeStore, write_config
from tests.unit.test_aws_events import PROXY_EVENTS, body_of, header_of, load_event, proxy_event

ORIGIN = "https://edrn-labcas.jpl.nasa.gov"


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def runtime(tmp_path: Path, store: FakeStore) -> Iterator[ApiRuntime]:
    settings = Settings(
        config=str(write_config(tmp_path)),
        jwt_secret=SECRET,
        staging_bucket="labcas-staging",
        _env_file=None,  # type: ignore[call-arg]
    )
    container = build_container(settings, engine=FakeEngine(), store=store)
    runtime = ApiRuntime(create_app(container=container))
    yield runtime
    runtime.close()


class TestEventTranslation:
    def test_stage_becomes_the_root_path_and_the_path_keeps_it(self) -> None:
        request = to_request(load_event("api_get_data_selections.json"))
        assert request.scope["root_path"] == "/dev"
        assert request.scope["path"] == "/dev/data-selections"
        assert request.scope["scheme"] == "https"
        assert request.scope["query_string"] == b""

    def test_custom_domain_without_base_path_has_no_root_path(self) -> None:
        event = load_event("api_get_data_selections.json")
        event["requestContext"]["path"] = "/data-selections"
        event["requestContext"]["domainName"] = "workflows.example.org"
        assert to_request(event).scope["root_path"] == ""

    def test_query_string_from_multi_value_parameters(self) -> None:
        event = proxy_event("GET", "/x", query={"data_id": "a/b c"})
        event["multiValueQueryStringParameters"] = {"data_id": ["a/b c"], "k": ["1", "2"]}
        assert to_request(event).scope["query_string"] == b"data_id=a%2Fb%20c&k=1&k=2"

    def test_headers_are_lower_cased_and_content_length_matches_the_decoded_body(self) -> None:
        request = to_request(load_event("api_post_run_base64.json"))
        headers = dict(request.scope["headers"])
        assert headers[b"content-length"] == str(len(request.body)).encode()
        assert json.loads(request.body)["params"] == {"tile_size": 32}
        assert headers[b"idempotency-key"]

    def test_percent_encoded_path_is_decoded_and_raw_path_kept(self) -> None:
        event = proxy_event("GET", "/output-data/a%20b/%2e%2e/c")
        request = to_request(event)
        assert request.scope["path"] == "/dev/output-data/a b/../c"
        assert request.scope["raw_path"] == b"/dev/output-data/a%20b/%2e%2e/c"

    def test_authorizer_username_is_trusted_only_from_api_gateway_events(self) -> None:
        event = load_event("api_get_data_selections.json")
        assert to_request(event).scope[TRUSTED_USERNAME_KEY] == "thomas"
        assert to_request(event).scope[ALLOW_ORIGIN_KEY] == ORIGIN
        forged = json.loads(json.dumps(event))
        del forged["requestContext"]["apiId"]
        assert trusted_username(forged) is None
        mismatched = json.loads(json.dumps(event))
        mismatched["requestContext"]["authorizer"]["principalId"] = "eve"
        assert trusted_username(mismatched) is None
        hostile = json.loads(json.dumps(event))
        hostile["requestContext"]["authorizer"].update(principalId="../x", username="../x")
        assert trusted_username(hostile) is None

    def test_identity_headers_are_never_trusted(self) -> None:
        event = proxy_event("GET", "/data-selections", username=None)
        event["headers"]["labcas.username"] = "thomas"
        event["multiValueHeaders"]["X-Labcas-Username"] = ["thomas"]
        assert TRUSTED_USERNAME_KEY not in to_request(event).scope

    @pytest.mark.parametrize(
        "event",
        [None, [], "GET /", {"httpMethod": "GET", "path": "/healthz"}, {"Records": []}],
        ids=["none", "list", "string", "no-context", "sqs"],
    )
    def test_non_proxy_events_are_refused(self, event: Any) -> None:
        with pytest.raises(BadEvent):
            to_request(event)

    def test_bad_base64_body_is_refused(self) -> None:
        event = proxy_event("POST", "/workflows/w/runs")
        event.update(body="not base64!!", isBase64Encoded=True)
        with pytest.raises(BadEvent, match="base64"):
            to_request(event)


class TestProxyResult:
    def test_json_is_text_and_headers_are_multi_valued(self) -> None:
        response = HttpResponse(
            200,
            [("content-type", "application/json"), ("vary", "Origin"), ("vary", "Accept")],
            b'{"a": 1}',
        )
        result = response.to_proxy_result()
        assert result == {
            "statusCode": 200,
            "multiValueHeaders": {
                "content-type": ["application/json"],
                "vary": ["Origin", "Accept"],
            },
            "body": '{"a": 1}',
            "isBase64Encoded": False,
        }

    def test_binary_is_base64(self) -> None:
        response = HttpResponse(200, [("content-type", "image/png")], b"\x89PNG\x00")
        result = response.to_proxy_result()
        assert result["isBase64Encoded"] is True
        assert base64.b64decode(result["body"]) == b"\x89PNG\x00"


class TestHandler:
    @pytest.mark.parametrize("name", PROXY_EVENTS)
    def test_every_captured_event_gets_an_answer_that_is_not_a_5xx(
        self, runtime: ApiRuntime, name: str
    ) -> None:
        result = runtime.handle(load_event(name), None)
        assert result["statusCode"] < 500, result
        assert header_of(result, "access-control-allow-origin") in (ORIGIN, None)

    def test_links_include_the_stage(self, runtime: ApiRuntime) -> None:
        result = runtime.handle(load_event("api_post_run_text_plain.json"), None)
        assert result["statusCode"] == 201, result
        output_url = body_of(result)["output_url"]
        host = "https://k7xq2v9m1d.execute-api.us-west-2.amazonaws.com"
        assert output_url.startswith(f"{host}/dev/output-data/")

    def test_base64_body_is_decoded(self, runtime: ApiRuntime) -> None:
        result = runtime.handle(load_event("api_post_run_base64.json"), None)
        assert result["statusCode"] == 201, result

    def test_cors_origin_comes_from_the_stage_variable(self, runtime: ApiRuntime) -> None:
        result = runtime.handle(load_event("api_get_workflows.json"), None)
        assert header_of(result, "access-control-allow-origin") == ORIGIN
        event = load_event("api_get_workflows.json")
        event["stageVariables"] = {"allowOrigin": "https://other.example"}
        assert header_of(runtime.handle(event, None), "access-control-allow-origin") is None

    def test_errors_are_problem_json_with_cors(self, runtime: ApiRuntime) -> None:
        event = proxy_event("GET", "/workflows/no_such_dag", headers={"origin": ORIGIN})
        result = runtime.handle(event, None)
        assert result["statusCode"] == 404
        assert header_of(result, "content-type") == "application/problem+json"
        assert header_of(result, "access-control-allow-origin") == ORIGIN
        assert body_of(result)["status"] == 404

    def test_the_request_id_is_api_gateways_unless_the_caller_sent_one(
        self, runtime: ApiRuntime
    ) -> None:
        event = load_event("api_get_workflows.json")
        gateway_id = event["requestContext"]["requestId"]
        assert header_of(runtime.handle(event, None), "x-request-id") == gateway_id
        event["headers"]["X-Request-ID"] = "client-chosen-1"
        event.pop("multiValueHeaders", None)
        assert header_of(runtime.handle(event, None), "x-request-id") == "client-chosen-1"

    def test_without_authorizer_context_the_token_is_verified(self, runtime: ApiRuntime) -> None:
        no_token = runtime.handle(proxy_event("GET", "/data-selections", username=None), None)
        assert no_token["statusCode"] == 401
        assert header_of(no_token, "www-authenticate")
        token = mint_token(SECRET, "dliu")
        with_token = proxy_event("GET", "/data-selections", username=None, token=token)
        assert runtime.handle(with_token, None)["statusCode"] == 200

    def test_a_direct_invocation_cannot_claim_an_identity(self, runtime: ApiRuntime) -> None:
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
    def test_bad_run_requests(self, runtime: ApiRuntime, body: str, status: int) -> None:
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
    def test_hostile_output_paths(self, runtime: ApiRuntime, path: str) -> None:
        result = runtime.handle(proxy_event("GET", path), None)
        assert result["statusCode"] == 400, result

    def test_unexpected_errors_are_a_500_problem_with_the_request_id(
        self, runtime: ApiRuntime, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def broken(*args: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(api_module, "call_app", broken)
        result = runtime.handle(load_event("api_get_workflows.json"), None)
        assert result["statusCode"] == 500
        assert "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" in body_of(result)["detail"]
        assert "boom" not in result["body"]


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

    def test_a_configuration_error_is_a_problem_naming_the_setting(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(api_module, "_runtime", None)
        monkeypatch.setenv("LABCAS_ENGINE", "no-such-engine")
        result = api_module.handler(
            proxy_event("GET", "/workflows", headers={"origin": ORIGIN}), None
        )
        assert result["statusCode"] == 500
        assert "LABCAS_ENGINE" in body_of(result)["detail"]
        assert header_of(result, "access-control-allow-origin") == ORIGIN
        assert api_module._runtime is None


def test_audit_records_reach_the_lambda_log() -> None:
    """The Lambda runtime leaves the root logger at WARNING: our loggers must say INFO."""
    import logging

    assert logging.getLogger("labcas_workflow_api.audit").getEffectiveLevel() == logging.INFO
