"""Helpers for tests of the Lambda handlers: captured API Gateway events, adapted per test."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def set_header(event: dict[str, Any], name: str, value: str | None) -> None:
    """Replace (or with None remove) a header in both header maps, whatever its case."""
    for key in ("headers", "multiValueHeaders"):
        mapping = event.get(key) or {}
        for existing in [k for k in mapping if k.lower() == name.lower()]:
            del mapping[existing]
        if value is not None:
            mapping[name] = [value] if key == "multiValueHeaders" else value
        event[key] = mapping


def proxy_event(
    method: str,
    path: str,
    *,
    username: str | None = "thomas",
    token: str | None = None,
    query: dict[str, str] | None = None,
    body: str | bytes | None = None,
    base64_body: bool = False,
    content_type: str | None = None,
    accept: str | None = None,
    headers: dict[str, str] | None = None,
    template: str = "api_get_data_selections.json",
) -> dict[str, Any]:
    """A captured REST proxy event (stage ``dev``) turned into another request.

    ``username`` is what the authorizer put in the context (None: no authorizer context);
    ``token`` the Authorization header (None: the captured placeholder is dropped).
    """
    event = copy.deepcopy(load_event(template))
    event["httpMethod"] = method
    event["path"] = path
    event["resource"] = path
    context = event["requestContext"]
    context.update(httpMethod=method, path=f"/{context['stage']}{path}", resourcePath=path)
    if username is None:
        context.pop("authorizer", None)
    else:
        context["authorizer"] = {
            "principalId": username,
            "integrationLatency": 230,
            "username": username,
        }
    set_header(event, "Authorization", f"Bearer {token}" if token else None)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = (
        {k: [v] for k, v in query.items()} if query is not None else None
    )
    if isinstance(body, bytes) or base64_body:
        raw = body.encode() if isinstance(body, str) else (body or b"")
        event["body"] = base64.b64encode(raw).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = body
        event["isBase64Encoded"] = False
    if content_type is not None:
        set_header(event, "content-type", content_type)
    if accept is not None:
        set_header(event, "Accept", accept)
    for name, value in (headers or {}).items():
        set_header(event, name, value)
    return event


def body_of(result: dict[str, Any]) -> Any:
    raw = result["body"]
    if result.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    return json.loads(raw) if raw else None


def header_of(result: dict[str, Any], name: str) -> str | None:
    for key, values in result.get("multiValueHeaders", {}).items():
        if key.lower() == name.lower():
            return str(values[0])
    return None


PROXY_EVENTS = sorted(p.name for p in EVENTS.glob("api_*.json"))
AUTHORIZER_EVENTS = sorted(p.name for p in EVENTS.glob("authorizer_*.json"))


class TestCapturedEvents:
    """The fixtures keep the shapes API Gateway really sends."""

    def test_there_is_an_event_per_kind_of_route(self) -> None:
        assert len(PROXY_EVENTS) >= 10
        assert (EVENTS / "authorizer_request.json").exists()

    @pytest.mark.parametrize("name", PROXY_EVENTS)
    def test_proxy_event_shape(self, name: str) -> None:
        event = load_event(name)
        assert set(event) >= {
            "resource", "path", "httpMethod", "headers", "multiValueHeaders",
            "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
            "stageVariables", "requestContext", "body", "isBase64Encoded",
        }  # fmt: skip
        context = event["requestContext"]
        assert context["stage"] == "dev"
        if ".execute-api." in context["domainName"]:
            assert context["path"] == "/dev" + event["path"]
        else:  # a custom domain: the path as the client sent it, base path included
            assert context["path"] == event["path"]
            assert context["domainName"] == event["headers"]["Host"]
        # API Gateway keeps the last value of a repeated header in ``headers``
        assert {k: v[-1] for k, v in event["multiValueHeaders"].items()} == event["headers"]
        assert event["stageVariables"]["allowOrigin"].startswith("https://")
        if "authorizer" in context:
            assert context["authorizer"]["username"] == context["authorizer"]["principalId"]

    def test_browser_quirks_are_captured(self) -> None:
        text_plain = load_event("api_post_run_text_plain.json")
        assert text_plain["headers"]["content-type"].startswith("text/plain")
        assert json.loads(text_plain["body"])["in_data_selection"] == "nebraska_images"
        assert load_event("api_get_data_selections.json")["queryStringParameters"] is None
        assert load_event("api_post_run_base64.json")["isBase64Encoded"] is True

    @pytest.mark.parametrize("name", AUTHORIZER_EVENTS)
    def test_authorizer_event_shape(self, name: str) -> None:
        event = load_event(name)
        assert event["type"] == "REQUEST"
        assert event["methodArn"].startswith("arn:aws:execute-api:")
        assert {k: v[-1] for k, v in event["multiValueHeaders"].items()} == event["headers"]
        assert ("authorization" in event["headers"]) == (name != "authorizer_no_token.json")

    def test_the_hard_cases_are_captured(self) -> None:
        """A custom domain with a base path, hostile headers, and the authorizer's 401 and 403
        cases."""
        base_path = load_event("api_get_healthz_base_path.json")
        assert base_path["path"] == "/workflows/healthz"
        hostile = load_event("api_get_workflows_hostile_headers.json")["multiValueHeaders"]
        assert not hostile["X-Forwarded-Port"][0].isdigit()
        assert len(hostile["Origin"]) == 2
        assert {"authorizer_expired_token.json", "authorizer_user_in_no_list.json"} <= set(
            AUTHORIZER_EVENTS
        )
