"""API Gateway REST proxy events (payload 1.0) <-> one ASGI HTTP call, in the standard library.

Only what API Gateway itself sets is trusted: the scope's host is ``requestContext.domainName``
(no ``Host`` or ``X-Forwarded-*``), scheme ``https``, the stage or base path as root, and the
username the one our authorizer put in ``requestContext.authorizer``; the event readers raise on
no event. Hand-written, not Mangum: ``bench/cold_start.py`` measured no gain (import + first
answer, medians of 15: 472 ms here, 470 ms on Mangum; CPU 0.1-4 % lower here), and Mangum needed
as much code around it (event checks, header cleaning, a middleware for trusted values: see
``aws/mangum_runtime.py``'s history).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, unquote, urlencode

from labcas_workflow_api.edge import (
    ALLOW_ORIGIN_KEY,
    PROBLEM_JSON,
    REQUEST_ID_KEY,
    TRUSTED_USERNAME_KEY,
    allowed_origin,
    is_username,
    problem_body,
    split_origins,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_TEXT_TYPES = re.compile(
    r"^(text/|application/([a-z0-9.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded)\b)"
)

#: ``requestContext`` fields API Gateway always sets on a REST proxy event
_CONTEXT_KEYS = ("apiId", "requestId", "stage", "accountId", "domainName")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
_DOMAIN = re.compile(r"[A-Za-z0-9.-]{1,253}")
_ROOT_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)*")


class BadEvent(ValueError):
    """The event is not a usable API Gateway REST proxy event (answered with a 400)."""


def pairs(event: Any, multi_key: str, single_key: str) -> list[tuple[Any, Any]]:
    """The pairs of ``event[multi_key]`` when it has any, else of ``event[single_key]``."""
    multi = event.get(multi_key) if isinstance(event, dict) else None
    single = event.get(single_key) if isinstance(event, dict) else None
    if isinstance(multi, dict) and multi:
        return [
            (name, value)
            for name, values in multi.items()
            for value in (values if isinstance(values, list) else [values])
        ]
    return list(single.items()) if isinstance(single, dict) else []


def event_headers(event: Any) -> list[tuple[str, str]]:
    """Request headers, names lower-cased; non-token names and non-string values left out."""
    return [
        (name.lower(), value)
        for name, value in pairs(event, "multiValueHeaders", "headers")
        if isinstance(name, str) and _HEADER_NAME.fullmatch(name) and isinstance(value, str)
    ]


def single_header(event: Any, name: str) -> str | None:
    """A header's value; None when absent or sent more than once."""
    values = [v for k, v in event_headers(event) if k == name]
    return values[0] if len(values) == 1 else None


def _context(event: Any) -> dict[str, Any]:
    context = event.get("requestContext") if isinstance(event, dict) else None
    return context if isinstance(context, dict) else {}


def is_api_gateway_event(event: Any) -> bool:
    """True for the shape API Gateway itself produces for a REST proxy integration."""
    context = _context(event)
    return (
        isinstance(event, dict)
        and isinstance(event.get("httpMethod"), str)
        and isinstance(event.get("path"), str)
        and all(isinstance(context.get(k), str) and context[k] for k in _CONTEXT_KEYS)
        and _DOMAIN.fullmatch(context["domainName"]) is not None
        and isinstance(context.get("identity"), dict)
    )


def trusted_username(event: Any) -> str | None:
    """The username our authorizer put in ``requestContext.authorizer``; never from a header."""
    if not is_api_gateway_event(event):
        return None
    authorizer = _context(event).get("authorizer")
    if not isinstance(authorizer, dict):
        return None
    username = authorizer.get("username")
    if is_username(username) and authorizer.get("principalId") == username:
        return str(username)
    return None


def request_id(event: Any) -> str:
    """API Gateway's request id (the one in its access log), else a new one."""
    value = _context(event).get("requestId")
    return value if isinstance(value, str) and value else uuid.uuid4().hex


def stage_allow_origin(event: Any) -> str | None:
    variables = event.get("stageVariables") if isinstance(event, dict) else None
    value = variables.get("allowOrigin") if isinstance(variables, dict) else None
    return value if isinstance(value, str) else None


def trusted_scope(event: Any) -> dict[str, str]:
    """The ``labcas.*`` ASGI scope keys: username, request id, ``allowOrigin`` stage variable."""
    scope = {
        REQUEST_ID_KEY: request_id(event),
        TRUSTED_USERNAME_KEY: trusted_username(event),
        ALLOW_ORIGIN_KEY: stage_allow_origin(event),
    }
    return {key: value for key, value in scope.items() if value is not None}


def route(event: dict[str, Any], base_path: str = "") -> tuple[str, str]:
    """The path to route (less the custom domain's ``base_path``) and the root path the client
    used before it (``/dev``, the base path, or nothing), from ``requestContext.path``."""
    path = event["path"] or "/"
    base = "/" + base_path.strip("/") if base_path.strip("/") else ""
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :] or "/"
    context = _context(event)
    used = context.get("path")
    if isinstance(used, str) and used.endswith(path):
        root = used[: len(used) - len(path)].rstrip("/")
    elif ".execute-api." in context["domainName"]:
        root = "/" + context["stage"]
    else:
        root = base
    return path, (root if _ROOT_PATH.fullmatch(root) else "")


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


def problem_result(status: int, title: str, detail: str, event: Any = None) -> dict[str, Any]:
    """A problem+json proxy result made outside the app, with CORS headers when the
    ``allowOrigin`` stage variable allows the ``event``'s ``Origin``."""
    headers = [("Content-Type", PROBLEM_JSON)]
    origin = single_header(event, "origin")
    allowed = allowed_origin(origin, split_origins(stage_allow_origin(event)))
    if allowed:
        headers += [("Access-Control-Allow-Origin", allowed), ("Vary", "Origin")]
    return proxy_result(status, headers, problem_body(status, title, detail))


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
