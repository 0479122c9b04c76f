"""API Gateway REST proxy events (payload 1.0) <-> one ASGI HTTP call, without third-party code."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode

from labcas_workflow_api.aws.events import event_headers

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger(__name__)

TRUSTED_USERNAME_KEY = "labcas.username"
ALLOW_ORIGIN_KEY = "labcas.allow_origin"
REQUEST_ID_KEY = "labcas.request_id"
PROBLEM_JSON = "application/problem+json"

_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ROOT_PATH_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")
_TEXT_TYPES = re.compile(
    r"^(text/|application/([a-z0-9.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded)\b)"
)


class BadEvent(ValueError):
    """The event is not a usable API Gateway REST proxy event (answered with a 400)."""


@dataclass
class HttpRequest:
    """An API Gateway proxy event translated into an ASGI scope and a body."""

    scope: dict[str, Any]
    body: bytes


@dataclass
class HttpResponse:
    """What the ASGI app answered."""

    status: int = 500
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def to_proxy_result(self) -> dict[str, Any]:
        """The Lambda proxy integration result; headers as ``multiValueHeaders``."""
        grouped: dict[str, list[str]] = {}
        for name, value in self.headers:
            grouped.setdefault(name, []).append(value)
        content_type = next((v for k, v in self.headers if k.lower() == "content-type"), "")
        if _TEXT_TYPES.match(content_type.lower()) or not self.body:
            try:
                text = self.body.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                return {
                    "statusCode": self.status,
                    "multiValueHeaders": grouped,
                    "body": text,
                    "isBase64Encoded": False,
                }
        return {
            "statusCode": self.status,
            "multiValueHeaders": grouped,
            "body": base64.b64encode(self.body).decode("ascii"),
            "isBase64Encoded": True,
        }


def is_api_gateway_event(event: Any) -> bool:
    """True for the shape API Gateway itself produces for a REST proxy integration."""
    if not isinstance(event, dict):
        return False
    context = event.get("requestContext")
    return (
        isinstance(event.get("httpMethod"), str)
        and isinstance(event.get("path"), str)
        and isinstance(context, dict)
        and all(isinstance(context.get(k), str) and context[k] for k in _CONTEXT_KEYS)
        and isinstance(context.get("identity"), dict)
    )


_CONTEXT_KEYS = ("apiId", "requestId", "stage", "accountId")


def trusted_username(event: dict[str, Any]) -> str | None:
    """The username our authorizer put in ``requestContext.authorizer``, if this is an API
    Gateway event carrying one; API Gateway also sets ``principalId`` from the same answer."""
    if not is_api_gateway_event(event):
        return None
    authorizer = event["requestContext"].get("authorizer")
    if not isinstance(authorizer, dict):
        return None
    username = authorizer.get("username")
    if (
        isinstance(username, str)
        and _USERNAME_RE.match(username)
        and authorizer.get("principalId") == username
    ):
        return username
    return None


def _root_path(event: dict[str, Any], path: str) -> str:
    """The prefix the client used before the resource path: ``/dev`` on the execute-api host,
    a base-path mapping on a custom domain, or nothing."""
    context = event["requestContext"]
    used = context.get("path")
    if isinstance(used, str) and used.endswith(path):
        root = used[: len(used) - len(path)].rstrip("/")
    elif ".execute-api." in str(context.get("domainName", "")):
        root = "/" + str(context["stage"])
    else:
        root = ""
    return root if _ROOT_PATH_RE.match(root) else ""


def _query_string(event: dict[str, Any]) -> bytes:
    multi = event.get("multiValueQueryStringParameters")
    single = event.get("queryStringParameters")
    pairs: list[tuple[str, str]] = []
    if isinstance(multi, dict) and multi:
        for name, values in multi.items():
            for value in values if isinstance(values, list) else [values]:
                pairs.append((str(name), str(value)))
    elif isinstance(single, dict):
        pairs = [(str(k), str(v)) for k, v in single.items()]
    return urlencode(pairs, quote_via=quote).encode("ascii")


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
    return body.encode("utf-8")


def _encode_header(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def to_request(event: Any, context: Any = None) -> HttpRequest:
    """Translate a REST proxy event; raise BadEvent when it is not one.

    ``scope["labcas.username"]`` is set only from the authorizer context of an API Gateway
    event; ``scope["labcas.allow_origin"]`` from the ``allowOrigin`` stage variable;
    ``scope["labcas.request_id"]`` from API Gateway's ``requestId`` (the request id of the
    answer when the caller sent no ``X-Request-ID``, so records match the access log).
    """
    if not is_api_gateway_event(event):
        raise BadEvent("not an API Gateway REST proxy event")
    raw = event["path"] or "/"
    if not raw.startswith("/"):
        raise BadEvent("event path must start with '/'")
    try:
        path = unquote(raw, errors="strict") if "%" in raw else raw
    except UnicodeDecodeError:
        raise BadEvent("request path is not valid UTF-8 once decoded") from None
    root = _root_path(event, raw)
    body = _body(event)
    headers = [(k, v) for k, v in event_headers(event) if k != "content-length"]
    if body or event["httpMethod"] in ("POST", "PUT", "PATCH"):
        headers.append(("content-length", str(len(body))))
    names = {k for k, _ in headers}
    context_info = event["requestContext"]
    if "host" not in names and context_info.get("domainName"):
        headers.append(("host", str(context_info["domainName"])))
    header_map = dict(headers)
    scheme = header_map.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    host = header_map.get("host", "localhost")
    port = int(header_map.get("x-forwarded-port", "443").split(",")[0].strip() or 443)
    source_ip = str(context_info["identity"].get("sourceIp") or "0.0.0.0")  # noqa: S104
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": event["httpMethod"].upper(),
        "scheme": scheme,
        "root_path": root,
        "path": root + path,
        "raw_path": (root + raw).encode("utf-8"),
        "query_string": _query_string(event),
        "headers": [(k.encode("latin-1"), _encode_header(v)) for k, v in headers],
        "client": (source_ip, 0),
        "server": (host.split(":")[0], port),
        "extensions": {},
        "aws.event": event,
        "aws.context": context,
    }
    username = trusted_username(event)
    if username:
        scope[TRUSTED_USERNAME_KEY] = username
    stage_variables = event.get("stageVariables")
    if isinstance(stage_variables, dict) and isinstance(stage_variables.get("allowOrigin"), str):
        scope[ALLOW_ORIGIN_KEY] = stage_variables["allowOrigin"]
    if isinstance(context_info.get("requestId"), str):
        scope[REQUEST_ID_KEY] = context_info["requestId"]
    return HttpRequest(scope=scope, body=body)


async def call_app(app: ASGIApp, request: HttpRequest, state: dict[str, Any]) -> HttpResponse:
    """Run one HTTP request through the ASGI app; unexpected errors propagate to the caller
    unless the app already started its answer."""
    response = HttpResponse()
    chunks: list[bytes] = []
    sent_body = False
    done = asyncio.Event()

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            response.status = int(message["status"])
            response.headers = [
                (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                for k, v in message.get("headers", [])
            ]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                done.set()

    scope = dict(request.scope)
    scope["state"] = dict(state)
    try:
        await app(scope, receive, send)
    finally:
        done.set()
    response.body = b"".join(chunks)
    return response


class Lifespan:
    """The app's ASGI lifespan: started once per container, shut down on ``close``.

    An app that does not speak lifespan simply has nothing to start.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._queue: asyncio.Queue[Message] | None = None
        self._task: asyncio.Future[None] | None = None

    async def startup(self) -> None:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await queue.put({"type": "lifespan.startup"})

        async def send(message: Message) -> None:
            if started.done():
                return
            if message["type"] == "lifespan.startup.complete":
                started.set_result(None)
            elif message["type"] == "lifespan.startup.failed":
                failure = str(message.get("message") or "lifespan startup failed")
                started.set_exception(RuntimeError(failure))

        async def run() -> None:
            scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
            scope["state"] = self.state
            try:
                await self.app(scope, queue.get, send)
            except Exception as exc:
                log.debug("ASGI lifespan not supported: %r", exc)
            if not started.done():
                started.set_result(None)

        self._queue = queue
        self._task = asyncio.ensure_future(run())
        await asyncio.wait([self._task, started], return_when=asyncio.FIRST_COMPLETED)
        started.result()

    async def shutdown(self) -> None:
        if self._task is None or self._queue is None or self._task.done():
            return
        await self._queue.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self._task, timeout=5)
        except TimeoutError:
            self._task.cancel()


def problem_result(
    status: int, title: str, detail: str, *, allow_origin: str | None = None
) -> dict[str, Any]:
    """A proxy result with a problem+json body, for errors raised before the app answers."""
    headers = {"Content-Type": [PROBLEM_JSON]}
    if allow_origin:
        headers["Access-Control-Allow-Origin"] = [allow_origin]
        headers["Vary"] = ["Origin"]
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return {
        "statusCode": status,
        "multiValueHeaders": headers,
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
