"""One problem+json shape for every error, and the ASGI middleware that guarantees it.

A 5xx tells the caller one public text per kind of error and the request id to quote; its detail
(which may name an internal host, a bucket or a file) is logged once, under that id."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labcas_workflow_api.domain.errors import (
    ConfigError,
    DeadlineExceeded,
    LabcasError,
    NotFound,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.edge import (
    ALLOW_ORIGIN_KEY,
    PROBLEM_JSON,
    REQUEST_ID_KEY,
    allowed_origin,
    problem_body,
    split_origins,
)
from labcas_workflow_api.http.security_headers import SecurityHeaders

log = logging.getLogger("labcas_workflow_api.http")
access_log = logging.getLogger("labcas_workflow_api.access")

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when valid; else API Gateway's request id (set in the scope by
    the Lambda adapter, so the answer matches the access log); else a new random one."""
    for candidate in (Headers(scope=scope).get("x-request-id"), scope.get(REQUEST_ID_KEY)):
        if isinstance(candidate, str) and _REQUEST_ID_RE.fullmatch(candidate):
            return candidate
    return os.urandom(16).hex()  # 32 hex digits as uuid4().hex, at a fifth of its cost


def request_id_of(scope: Scope) -> str:
    """The id the edge gave this request (echoed as X-Request-ID)."""
    return str(scope.get("state", {}).get("request_id", "-"))


def public_detail(exc: LabcasError, rid: str) -> str:
    """What the caller reads of ``exc``: its detail for a 4xx (ours, naming their mistake), a
    public text for a 5xx (which says what kind of thing failed, never where or how, and quotes
    the request id ``rid``)."""
    if exc.status < 500:
        return exc.detail
    if isinstance(exc, DeadlineExceeded):
        text = f"the request did not finish within its {exc.budget}deadline; try again later"
    elif isinstance(exc, ConfigError):
        text = "the service is not configured correctly"
    elif isinstance(exc, UpstreamUnavailable):
        text = "a service the API depends on is unavailable; try again later"
    elif isinstance(exc, UpstreamTimeout):
        text = "a service the API depends on did not answer in time; try again later"
    elif exc.status in (502, 503, 504):
        text = "a service the API depends on failed"
    else:
        text = "unexpected error"
    run_id = exc.extra.get("run_id")
    if isinstance(run_id, str):
        text += f"; run {run_id!r} may still start: look it up before starting it again"
    return f"{text}; quote request id {rid} to the operators"


def problem_for(exc: Exception, scope: Scope) -> tuple[int, bytes]:
    """The answer to ``exc``; a 5xx's detail (a 4xx's ``internal`` text, the traceback of an
    error not ours) is logged under the request id the answer quotes."""
    rid = request_id_of(scope)
    if not isinstance(exc, LabcasError):
        log.exception("unexpected error (request id %s)", rid)
        detail = f"unexpected error; quote request id {rid} to the operators"
        return 500, problem_body(500, "Internal error", detail, request_id=rid)
    where = f"{scope.get('method')} {scope.get('path')} -> {exc.status} (request id {rid})"
    if exc.status >= 500:
        level = logging.ERROR if isinstance(exc, ConfigError) else logging.WARNING
        log.log(level, "%s: %s", where, exc.detail + (f" ({exc.internal})" if exc.internal else ""))
    elif exc.internal:
        log.info("%s: %s", where, exc.internal)
    detail = public_detail(exc, rid)
    extra = {k: v for k, v in exc.extra.items() if isinstance(v, str | int | float | bool)}
    return exc.status, problem_body(exc.status, exc.title, detail, request_id=rid, **extra)


def problem_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    """A problem's answer (``problem_for``'s), with ``headers`` besides its own."""
    own = {"content-type": PROBLEM_JSON}
    if status == 401:
        own["www-authenticate"] = 'Bearer realm="LabCAS"'
    return Response(body, status_code=status, headers=own | (headers or {}))


_CORS_HEADERS = (
    b"Authorization, Content-Type, Idempotency-Key, X-Request-ID, Accept, If-Match, Cache-Control"
)
_CORS_EXPOSE = b"X-Request-ID, WWW-Authenticate, Idempotency-Replayed, Location, Link"


class RequestContextMiddleware:
    """The outermost edge: the request id in and out; on every answer (errors too), the security
    headers and CORS headers for the settings' origins and the Lambda adapter's ``allowOrigin``
    stage variable; an answer to every ``OPTIONS``; the problem+json answer to an error raised
    before an answer began (a 500 with a log id for anything unexpected); a client that went
    away logged at INFO; with ``access_log``, one JSON line per request."""

    def __init__(
        self,
        app: ASGIApp,
        allowed_origins: list[str],
        methods_for: Callable[[str], list[str]],
        security: SecurityHeaders,
        *,
        access_log: bool = False,
    ) -> None:
        self.app = app
        self.allowed_origins = allowed_origins
        self.methods_for = methods_for
        self.security = security
        self.access_log = access_log

    def _cors(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        allowed = [*self.allowed_origins, *split_origins(scope.get(ALLOW_ORIGIN_KEY))]
        value = allowed_origin(Headers(scope=scope).get("origin"), allowed)
        if value is None:
            return []
        return [
            (b"access-control-allow-origin", value.encode("latin-1")),
            (b"access-control-expose-headers", _CORS_EXPOSE),
            (b"vary", b"Origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        path = scope["path"]
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        extra_headers = [(b"x-request-id", request_id.encode()), *self._cors(scope)]
        started = False
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = message.get("headers", [])
                security = self.security.of(path, headers)
                message["headers"] = [*headers, *extra_headers, *security]
            await send(message)

        try:
            if scope["method"] == "OPTIONS":
                await self._options(scope, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            log.info(
                "%s %s: the client went away before sending the whole request (request id %s)",
                scope["method"],
                scope["path"],
                request_id,
            )
        except Exception as exc:
            if started:
                raise
            await problem_response(*problem_for(exc, scope))(scope, receive, send_with_id)
        finally:
            if self.access_log and access_log.isEnabledFor(logging.INFO):
                _access_line(scope, status, state, began)

    async def _options(self, scope: Scope, send: Send) -> None:
        methods = self.methods_for(scope["path"])
        if not methods:
            raise NotFound("no such resource")
        allow = ", ".join([*methods, "OPTIONS"]).encode()
        headers = [(b"allow", allow)]
        if self._cors(scope):
            headers += [
                (b"access-control-allow-methods", allow),
                (b"access-control-allow-headers", _CORS_HEADERS),
                (b"access-control-max-age", b"600"),
            ]
        headers.append((b"content-length", b"0"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _access_line(scope: Scope, status: int, state: dict[str, Any], began: float) -> None:
    """One JSON line: method, path, status (0: none sent), user, request id and duration."""
    entry = {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "user": state.get("user"),
        "request_id": state.get("request_id"),
        "ms": round((time.perf_counter() - began) * 1000, 1),
    }
    access_log.info(json.dumps(entry))
