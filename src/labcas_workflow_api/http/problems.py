"""One problem+json shape for every error, and the ASGI middleware that guarantees it."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labcas_workflow_api.domain.errors import LabcasError, Unauthenticated
from labcas_workflow_api.wire import Problem

log = logging.getLogger("labcas_workflow_api.http")

PROBLEM_JSON = "application/problem+json"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when valid; else API Gateway's request id (set in the scope by
    the Lambda adapter, so the answer matches the access log); else a new one."""
    for candidate in (_header(scope, b"x-request-id"), scope.get("labcas.request_id")):
        if isinstance(candidate, str) and _REQUEST_ID_RE.match(candidate):
            return candidate
    return uuid.uuid4().hex


def problem_body(status: int, title: str, detail: str, **extra: Any) -> bytes:
    problem = Problem(type="about:blank", title=title, status=status, detail=detail, **extra)
    return json.dumps(problem.model_dump()).encode()


def problem_headers(status: int) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", PROBLEM_JSON.encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="LabCAS"'))
    return headers


def problem_for(exc: LabcasError) -> tuple[int, bytes]:
    extra = {k: v for k, v in exc.extra.items() if isinstance(v, str | int | float | bool)}
    return exc.status, problem_body(exc.status, exc.title, exc.detail, **extra)


_CORS_HEADERS = b"Authorization, Content-Type, Idempotency-Key, X-Request-ID, Accept, If-Match"
_CORS_EXPOSE = b"X-Request-ID, WWW-Authenticate, Idempotency-Replayed, Location"


class RequestContextMiddleware:
    """The outermost edge of every request.

    Request id in and out; CORS headers on every response (errors included) for the allowed
    origins (settings, or ``scope["labcas.allow_origin"]`` set by the Lambda adapter from the
    ``allowOrigin`` stage variable); an answer to ``OPTIONS`` (preflight or not) on every path;
    and a problem+json 500 with a log id for anything unexpected.
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_origins: list[str] | None = None,
        methods_for: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.app = app
        self.allowed_origins = allowed_origins or []
        self.methods_for = methods_for or (lambda path: ["GET", "PUT", "POST"])

    def _cors(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        origin = _header(scope, b"origin")
        if not origin:
            return []
        allowed = [*self.allowed_origins]
        if scope.get("labcas.allow_origin"):
            allowed.append(str(scope["labcas.allow_origin"]))
        if "*" in allowed:
            value = b"*"
        elif origin in allowed:
            value = origin.encode("latin-1")
        else:
            return []
        return [
            (b"access-control-allow-origin", value),
            (b"access-control-expose-headers", _CORS_EXPOSE),
            (b"vary", b"Origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        extra_headers = [(b"x-request-id", request_id.encode()), *self._cors(scope)]
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *extra_headers]
            await send(message)

        if scope["method"] == "OPTIONS":
            methods = self.methods_for(scope["path"])
            if not methods:
                status, body = 404, problem_body(404, "Not found", "no such resource")
                await _send(send_with_id, status, body, problem_headers(status))
                return
            allow = ", ".join([*methods, "OPTIONS"]).encode()
            headers = [(b"allow", allow)]
            if len(extra_headers) > 1:
                headers += [
                    (b"access-control-allow-methods", allow),
                    (b"access-control-allow-headers", _CORS_HEADERS),
                    (b"access-control-max-age", b"600"),
                ]
            await _send(send_with_id, 204, b"", headers)
            return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:
                raise
            if isinstance(exc, LabcasError):
                status, body = problem_for(exc)
            else:
                log.exception("unexpected error (request id %s)", request_id)
                status, body = (
                    500,
                    problem_body(
                        500,
                        "Internal error",
                        f"unexpected error; quote request id {request_id} to the operators",
                    ),
                )
            await _send(send_with_id, status, body, problem_headers(status))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            try:
                return str(value.decode("latin-1"))
            except UnicodeDecodeError:
                return None
    return None


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["PROBLEM_JSON", "RequestContextMiddleware", "Unauthenticated", "problem_body"]
