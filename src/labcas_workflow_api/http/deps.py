"""Request-scoped dependencies: the container, the caller, link building, and the thread pool
of calls that wait on the engine."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import anyio.to_thread
from fastapi import Request

from labcas_workflow_api.auth.jwt import Principal
from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.edge import TRUSTED_USERNAME_KEY

#: Threads that may wait on the workflow engine at once, per event loop. Apart from the default
#: pool (40 threads) that serves everything else: a stalled Airflow fills this one only, and
#: browsing outputs, health checks and the rest still get threads.
ENGINE_THREADS = 40

T = TypeVar("T")
_engine_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def engine_bound(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``call``, which may wait on the engine, in a thread of the engine's own pool."""
    loop = asyncio.get_running_loop()
    limiter = _engine_limiters.get(loop)
    if limiter is None:
        limiter = _engine_limiters[loop] = anyio.CapacityLimiter(ENGINE_THREADS)
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs), limiter=limiter)


def container(request: Request) -> Container:
    result: Container = request.app.state.container
    return result


def principal(request: Request) -> Principal:
    """The caller: from the Lambda authorizer context when the Lambda adapter put it in the
    ASGI scope (clients cannot set scope keys), else from the verified Authorization header."""
    trusted = request.scope.get(TRUSTED_USERNAME_KEY)
    if isinstance(trusted, str) and trusted:
        return Principal(trusted)
    return container(request).verifier.verify(request.headers.get("authorization"))


def request_id(request: Request) -> str:
    """The id given to this request by the edge middleware (echoed as X-Request-ID)."""
    return str(request.scope.get("state", {}).get("request_id", "-"))


def base_url(request: Request) -> str:
    """Absolute base for links, including the stage prefix when the request used it."""
    settings = container(request).settings
    root = request.scope.get("root_path", "")
    if settings.public_url:
        base = settings.public_url.rstrip("/")
    else:
        base = f"{request.url.scheme}://{request.url.netloc}{root}"
    path = request.scope["path"]
    relative = path[len(root) :] if root and path.startswith(root) else path
    stage = settings.stage
    if stage and (relative == f"/{stage}" or relative.startswith(f"/{stage}/")):
        base += f"/{stage}"
    return base


def link(request: Request, path: str, **query: str | int | None) -> str:
    """Absolute URL of an API path (segments already escaped by the caller with ``quote``)."""
    url = base_url(request) + path
    pairs = [f"{k}={quote(str(v), safe='')}" for k, v in query.items() if v is not None]
    return url + ("?" + "&".join(pairs) if pairs else "")


def output_link(request: Request, relative: str) -> str:
    return link(request, "/output-data/" + quote(relative))
