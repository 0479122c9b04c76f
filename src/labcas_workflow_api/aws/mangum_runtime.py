"""The API's Lambda adapter on Mangum (candidate measured against ``aws/proxy.py``).

Mangum translates the event and the answer; around it: the event is checked and its headers
cleaned first (Mangum would raise on a non-numeric ``X-Forwarded-Port``, a ``Host`` with
colons, a non-string value), an ASGI middleware puts the trusted edge values into the scope
(host from ``requestContext.domainName``, ``https``, the stage or base path as root path, the
``labcas.*`` keys), and single-valued answer headers are moved into ``multiValueHeaders``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from mangum import Mangum

from labcas_workflow_api.aws.events import (
    answer_origin,
    event_headers,
    is_api_gateway_event,
    problem_result,
    request_id,
    route,
    trusted_scope,
)
from labcas_workflow_api.aws.proxy import ASGIApp, Message, Receive, Scope, Send
from labcas_workflow_api.edge import PROBLEM_JSON, REQUEST_ID_KEY, problem_body

log = logging.getLogger(__name__)

_TEXT_TYPES = ["text/", "application/json", "application/problem+json", "application/xml"]
_DROPPED = ("host", "content-length", "x-forwarded-port", "x-forwarded-proto", "x-forwarded-host")


class _TrustedEdge:
    """The trusted values of the API Gateway event into the ASGI scope."""

    def __init__(self, app: ASGIApp, base_path: str) -> None:
        self.app = app
        self.base_path = base_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            event = scope["aws.event"]
            raw, root = route(event, self.base_path)
            domain = event["requestContext"]["domainName"]
            scope.update(
                scheme="https",
                server=(domain, 443),
                root_path=root,
                path=root + scope["path"],
                raw_path=(root + raw).encode("utf-8", "replace"),
                **trusted_scope(event),
            )
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started or scope["type"] != "http":
                raise
            rid = scope.get(REQUEST_ID_KEY)
            log.exception("unexpected error (request id %s)", rid)
            body = problem_body(
                500, "Internal error", f"unexpected error; quote request id {rid} to the operators"
            )
            headers = [(b"content-type", PROBLEM_JSON.encode())]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})


def _clean_event(event: dict[str, Any]) -> dict[str, Any] | str:
    """The event with only string headers (``Host`` set to the domain name) and string query
    parameters; or why it cannot be served (a 400)."""
    body = event.get("body")
    if body is not None and not isinstance(body, str):
        return "event body must be a string"
    length = len((body or "").encode("utf-8", "surrogatepass"))
    if body and event.get("isBase64Encoded"):
        try:
            length = len(base64.b64decode(body, validate=True))
        except (binascii.Error, ValueError):
            return "request body is not valid base64"
    if not event["path"].startswith("/"):
        return "event path must start with '/'"
    headers: dict[str, list[str]] = {}
    for name, value in event_headers(event):
        if name not in _DROPPED:  # Mangum encodes values as UTF-8: no lone surrogates
            headers.setdefault(name, []).append(value.encode("utf-8", "replace").decode())
    headers["host"] = [event["requestContext"]["domainName"]]
    if length or event["httpMethod"].upper() in ("POST", "PUT", "PATCH"):
        headers["content-length"] = [str(length)]
    query = event.get("multiValueQueryStringParameters") or event.get("queryStringParameters")
    params = {
        str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])]
        for k, vs in (query.items() if isinstance(query, dict) else [])
    }
    return {
        **event,
        "headers": {},
        "multiValueHeaders": headers,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": params or None,
        "body": body or None,
    }


class MangumRuntime:
    """The app behind Mangum, for one Lambda container."""

    def __init__(self, app: ASGIApp, *, base_path: str = "") -> None:
        self.app = app
        self.base_path = base_path
        self._mangum = Mangum(
            _TrustedEdge(app, base_path),
            lifespan="off",
            api_gateway_base_path="/" + base_path.strip("/"),
            text_mime_types=_TEXT_TYPES,
        )

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """Answer one proxy event; never raises."""
        if not is_api_gateway_event(event):
            return problem_result(400, "Bad request", "not an API Gateway REST proxy event")
        clean = _clean_event(event)
        if isinstance(clean, str):
            return problem_result(400, "Bad request", clean)
        try:
            result = self._mangum(clean, context)
        except Exception:
            rid = request_id(event)
            log.exception("unexpected error (request id %s)", rid)
            return problem_result(
                500,
                "Internal error",
                f"unexpected error; quote request id {rid} to the operators",
                allow_origin=answer_origin(event),
            )
        multi = result.setdefault("multiValueHeaders", {})
        for name, value in result.pop("headers", {}).items():
            multi.setdefault(name, []).insert(0, value)
        return result

    def close(self) -> None:
        """Nothing to close (Mangum keeps its loop)."""
