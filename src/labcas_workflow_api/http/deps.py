"""What routes share: dependencies, the request body reader, and the one way off the event loop.

Every dependency is ``async``: FastAPI would run a plain ``def`` one in its own thread pool."""

from __future__ import annotations

import asyncio
import functools
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec, TypeVar
from urllib.parse import quote

import anyio
import anyio.to_thread
from fastapi import Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from labcas_workflow_api import audit
from labcas_workflow_api.auth.jwt import Principal
from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.cache import WouldWait, without_waiting
from labcas_workflow_api.domain.errors import (
    BadRequest,
    ClientGone,
    PayloadTooLarge,
    Unauthenticated,
)
from labcas_workflow_api.domain.json_body import parse_json
from labcas_workflow_api.edge import TRUSTED_USERNAME_KEY
from labcas_workflow_api.http.problems import request_id_of
from labcas_workflow_api.settings import Settings

MAX_BODY = 256 * 1024
_HOST_NAME = re.compile(r"^[a-z0-9._:-]+$")

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class Pool:
    """Threads that may wait on one upstream at once, per event loop: a stalled upstream fills
    its own pool only (a hung Airflow does not stop output browsing, nor an S3 stall run
    listings, and neither stops the health checks, which need no thread)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._limiters: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, anyio.CapacityLimiter
        ] = weakref.WeakKeyDictionary()

    def limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.threads)
        return limiter


#: Calls that may wait on the workflow engine (or on the access config it is checked against).
ENGINE = Pool(40)
#: Calls that may wait on the staging store (S3).
STORAGE = Pool(40)
#: Token checks, which may wait on the source of the JWT secret (e.g. Secrets Manager).
AUTH = Pool(40)


async def off_loop(pool: Pool, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run the blocking ``call`` in a thread of ``pool``."""
    return await anyio.to_thread.run_sync(
        functools.partial(call, *args, **kwargs), limiter=pool.limiter()
    )


async def held_or_off_loop(
    pool: Pool, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``call(...)`` on the loop when the caches it reads hold its answer, else in a thread of
    ``pool``. Under load a round trip through a thread costs a turn of the loop: 40-50 ms at
    the median in the wrk read mix, for a call that took 0 ms on a held run list."""
    try:
        return without_waiting(call, *args, **kwargs)
    except WouldWait:
        return await off_loop(pool, call, *args, **kwargs)


async def read_run(
    read: Callable[[str, str, str], T], who: Principal, rid: str, workflow_id: str, run_id: str
) -> T:
    """``read(username, workflow_id, run_id)`` in a thread of ``ENGINE``, refusals audited."""
    with audit.audited(
        "run.read", who.username, rid, refusals_only=True, workflow=workflow_id, run_id=run_id
    ):
        return await off_loop(ENGINE, read, who.username, workflow_id, run_id)


async def container(request: Request) -> Container:
    result: Container = request.app.state.container
    return result


ContainerDep = Annotated[Container, Depends(container)]


async def principal(request: Request, c: ContainerDep) -> Principal:
    """The caller: the Lambda authorizer's, put in the ASGI scope by the adapter (clients cannot
    set scope keys), else the verified Authorization header's (a refused token is an
    ``auth.failed`` audit record); its name is kept in the scope for the access log."""
    trusted = request.scope.get(TRUSTED_USERNAME_KEY)
    if isinstance(trusted, str) and trusted:
        who = Principal(trusted)
    else:
        header = request.headers.get("authorization")
        try:
            known = c.verifier.verify_known(header)
            who = known if known is not None else await off_loop(AUTH, c.verifier.verify, header)
        except Unauthenticated as exc:
            client = request.client.host if request.client else None
            audit.auth_failed(request_id_of(request.scope), exc.detail, request.url.path, client)
            raise
    request.scope.setdefault("state", {})["user"] = who.username
    return who


async def request_id(request: Request) -> str:
    return request_id_of(request.scope)


def host_allowed(host: str | None, allowed: list[str]) -> bool:
    """Whether a ``Host`` header value (with or without a port) names one of ``allowed``: a
    name, ``*.domain`` (any name under that domain) or ``*`` (any)."""
    if "*" in allowed:
        return True
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return False
    else:
        name, colon, port = host.rpartition(":")
        if not colon:
            name = host
        elif not port.isdigit():
            return False
    if not name or not _HOST_NAME.match(name):
        return False
    return any(
        name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:]))
        for pattern in allowed
    )


def base_url(request: Request, settings: Settings, allowed_hosts: list[str] | None) -> str:
    """Absolute base for links (with the stage prefix when the request used it):
    ``LABCAS_PUBLIC_URL``, else the request's scheme and ``Host``, which must be one of
    ``allowed_hosts`` when given (BadRequest otherwise: a client's header must not choose where
    links point; on Lambda, None, the adapter set them)."""
    root = request.scope.get("root_path", "")
    if settings.public_url:
        base = settings.public_url.rstrip("/")
    else:
        if allowed_hosts is not None and not host_allowed(
            request.headers.get("host"), allowed_hosts
        ):
            raise BadRequest("the Host header does not name this service")
        base = f"{request.url.scheme}://{request.url.netloc}{root}"
    path = request.scope["path"]
    relative = path[len(root) :] if root and path.startswith(root) else path
    stage = settings.stage
    if stage and (relative == f"/{stage}" or relative.startswith(f"/{stage}/")):
        base += f"/{stage}"
    return base


@dataclass
class Links:
    """Absolute links for one request: the API's, and the web app's pages when it is served."""

    base: str
    web_app: bool = False

    def to(self, path: str, **query: str | int | None) -> str:
        """The link of an API path (segments already escaped by the caller with ``quote``)."""
        pairs = [f"{k}={quote(str(v), safe='')}" for k, v in query.items() if v is not None]
        return self.base + path + ("?" + "&".join(pairs) if pairs else "")

    def output(self, relative: str) -> str:
        """The ``/output-data/...`` link of a folder relative to the caller's area."""
        return self.base + "/output-data/" + quote(relative)

    def run(self, workflow_id: str, run_id: str) -> str:
        return f"{self.base}/workflows/{quote(workflow_id, safe='')}/runs/{quote(run_id, safe='')}"

    def web(self, *route: str) -> str | None:
        """The web app's page ``<base>/ui/#/<route>`` (``run``, workflow, run id; ``outputs``,
        folder parts; each escaped as the web app's ``routeLink`` does), or None without it."""
        if not self.web_app:
            return None
        return f"{self.base}/ui/#/" + "/".join(quote(part, safe="") for part in route)


async def links(request: Request, c: ContainerDep) -> Links:
    base = base_url(request, c.settings, request.app.state.allowed_hosts)
    return Links(base, web_app=request.app.state.web_app)


CallerDep = Annotated[Principal, Depends(principal)]
LinksDep = Annotated[Links, Depends(links)]
RequestIdDep = Annotated[str, Depends(request_id)]

#: A workflow or task id; a run id may also hold ``~:+``.
NAME = r"^[A-Za-z0-9_.\-]{1,250}$"
RUN = r"^[A-Za-z0-9_.~:+\-]{1,250}$"
WorkflowId = Annotated[str, Path(pattern=NAME, description="Workflow (DAG) id")]
RunId = Annotated[str, Path(pattern=RUN, description="Run id")]
TaskId = Annotated[str, Path(pattern=NAME, description="Task id")]


async def read_body(request: Request) -> bytes:
    """The body, refused (413) once over ``MAX_BODY`` bytes; ClientGone if the client leaves."""
    declared = request.headers.get("content-length", "0")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge(f"request body over {MAX_BODY} bytes")
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise PayloadTooLarge(f"request body over {MAX_BODY} bytes")
    except ClientDisconnect:
        gone = "the client went away before sending the whole request body"
        raise ClientGone(gone, internal=gone) from None
    return body


def parse_body(model: type[M], body: bytes) -> M:
    """The JSON ``body`` as ``model``; BadRequest naming the first problem: a value JSON cannot
    carry (``parse_json``), then what ``model`` refuses."""
    parse_json(body)  # pydantic's parser names a position, not the field, for these
    try:
        return model.model_validate_json(body or b"null")
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(["body", *(str(p) for p in error["loc"])])
        raise BadRequest(f"{where}: {error['msg']}") from None


def json_answer(
    answer: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """``answer`` as FastAPI serialises a returned model, for routes that choose the status."""
    return Response(
        answer.model_dump_json(by_alias=True),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def request_body(model: type[BaseModel], also: dict[str, Any] | None = None) -> dict[str, Any]:
    """``openapi_extra`` naming ``model`` as the JSON body of a route that reads its body
    itself (to refuse an oversized one before parsing); ``also``: other media types' schemas."""
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
    content |= {media: {"schema": schema} for media, schema in (also or {}).items()}
    return {"requestBody": {"required": True, "content": content}}
