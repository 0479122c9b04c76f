"""API Gateway REST proxy events (payload 1.0) <-> one ASGI HTTP call, in the standard library.

The scope holds only trusted edge values: host ``requestContext.domainName`` (no ``Host`` or
``X-Forwarded-*``), scheme ``https``, the stage or base path as root. Hand-written, not Mangum:
``bench/cold_start.py`` measured no gain (import + first answer, medians of 15: 472 ms here,
470 ms on Mangum; CPU 0.1-4 % lower here), and Mangum needed as much code around it (event
checks, header cleaning, a middleware for trusted values: see ``aws/mangum_runtime.py``'s history).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, unquote, urlencode

from labcas_workflow_api.aws.events import (
    event_headers,
    is_api_gateway_event,
    pairs,
    route,
    trusted_scope,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_TEXT_TYPES = re.compile(
    r"^(text/|application/([a-z0-9.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded)\b)"
)


class BadEvent(ValueError):
    """The event is not a usable API Gateway REST proxy event (answered with a 400)."""


def proxy_result(status: int, headers: list[tuple[str, str]], body: bytes) -> dict[str, Any]:
    """The Lambda proxy result: headers as ``multiValueHeaders``; text bodies as text, others
    base64."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name, []).append(value)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    result = {"statusCode": status, "multiValueHeaders": grouped}
    if _TEXT_TYPES.match(content_type.lower()) or not body:
        try:
            return {**result, "body": body.decode("utf-8"), "isBase64Encoded": False}
        except UnicodeDecodeError:
            pass
    return {**result, "body": base64.b64encode(body).decode(), "isBase64Encoded": True}


def _query_string(event: dict[str, Any]) -> bytes:
    query = pairs(event, "multiValueQueryStringParameters", "queryStringParameters")
    return urlencode([(str(k), str(v)) for k, v in query], quote_via=quote).encode("ascii")


def _body(event: dict[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadEvent("event body must be a string")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadEvent("request body is not valid base64") from None
    return body.encode("utf-8", "surrogatepass")


def _header_value(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace")


def to_request(
    event: Any, context: Any = None, *, base_path: str = ""
) -> tuple[dict[str, Any], bytes]:
    """The ASGI scope and body of a REST proxy event; BadEvent when it is not one. ``base_path``
    (``LABCAS_BASE_PATH``) is stripped from the path and becomes the root path."""
    if not is_api_gateway_event(event):
        raise BadEvent("not an API Gateway REST proxy event")
    raw, root = route(event, base_path)
    if not raw.startswith("/"):
        raise BadEvent("event path must start with '/'")
    try:
        path = unquote(raw, errors="strict") if "%" in raw else raw
    except UnicodeDecodeError:
        raise BadEvent("request path is not valid UTF-8 once decoded") from None
    body = _body(event)
    method = event["httpMethod"].upper()
    domain = event["requestContext"]["domainName"]
    headers = [(k, v) for k, v in event_headers(event) if k not in ("host", "content-length")]
    headers.append(("host", domain))
    if body or method in ("POST", "PUT", "PATCH"):
        headers.append(("content-length", str(len(body))))
    source_ip = event["requestContext"]["identity"].get("sourceIp")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "root_path": root,
        "path": root + path,
        "raw_path": (root + raw).encode("utf-8", "replace"),
        "query_string": _query_string(event),
        "headers": [(k.encode("ascii"), _header_value(v)) for k, v in headers],
        "client": (source_ip if isinstance(source_ip, str) else "0.0.0.0", 0),  # noqa: S104
        "server": (domain, 443),
        "extensions": {},
        "aws.event": event,
        "aws.context": context,
        **trusted_scope(event),
    }
    return scope, body


async def call_app(app: ASGIApp, scope: dict[str, Any], body: bytes) -> dict[str, Any]:
    """Run one HTTP request through the ASGI app, into a proxy result; unexpected errors
    propagate to the caller."""
    status = 500
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []
    sent_body = False
    done = asyncio.Event()

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = [
                (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                for k, v in message.get("headers", [])
            ]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(dict(scope), receive, send)
    finally:
        done.set()
    return proxy_result(status, headers, b"".join(chunks))
