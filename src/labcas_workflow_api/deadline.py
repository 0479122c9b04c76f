"""The request deadline: how long one request may take in all, every retry and wait included.

Held in a ``ContextVar``, which the threads a request waits in see too (``anyio.to_thread`` runs
each call in a copy of the caller's context); no deadline outside a request (CLI, scripts).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labcas_workflow_api.domain.errors import DeadlineExceeded

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

#: Seconds of a Lambda invocation kept to send the answer: the deadline is the remaining time
#: (``context.get_remaining_time_in_millis()``) less this.
LAMBDA_MARGIN = 1.0
#: Seconds before the deadline at which waits end, so that a timed-out wait is answered (naming
#: what it waited on) before ``DeadlineMiddleware`` answers in its place.
_RESERVE = 0.2
_LAMBDA_CONTEXT = "aws.context"  # set by ``aws.proxy.to_request``


@dataclass(frozen=True)
class _Deadline:
    at: float  # time.monotonic()
    seconds: float


_current: ContextVar[_Deadline | None] = ContextVar("labcas_deadline", default=None)


def remaining() -> float | None:
    """Seconds the current request may still wait (``None``: no deadline)."""
    deadline = _current.get()
    return None if deadline is None else deadline.at - _RESERVE - time.monotonic()


def expired() -> bool:
    """Whether the current request has no time left to wait."""
    left = remaining()
    return left is not None and left <= 0


def exceeded(what: str) -> DeadlineExceeded:
    """The error for a request whose deadline passed while it waited on ``what``."""
    deadline = _current.get()
    budget = f"{deadline.seconds:g} s " if deadline is not None else ""
    error = DeadlineExceeded(f"no answer within the request's {budget}deadline ({what})")
    error.budget = budget
    return error


def check(what: str) -> None:
    """Raise ``DeadlineExceeded`` when the current request has no time left."""
    if expired():
        raise exceeded(what)


def bounded(seconds: float | None, what: str) -> float | None:
    """``seconds`` (``None``: no limit), or the time left when that is shorter;
    ``DeadlineExceeded`` when no time is left."""
    left = remaining()
    if left is None:
        return seconds
    if left <= 0:
        raise exceeded(what)
    return left if seconds is None else min(seconds, left)


@contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """Run the block with a deadline ``seconds`` from now (``None``: without one)."""
    deadline = None if seconds is None else _Deadline(time.monotonic() + seconds, seconds)
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


def lambda_budget(context: Any, limit: float | None = None) -> float | None:
    """A Lambda invocation's remaining time less ``LAMBDA_MARGIN``, at most ``limit``."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining_ms):
        return limit
    left = max(0.0, float(remaining_ms()) / 1000 - LAMBDA_MARGIN)
    return left if limit is None else min(limit, left)


#: A shortened call's time is a multiple of this many seconds, so that few clients are built.
_STEP = 0.5


def worst_case(connect: float, read: float, attempts: int) -> float:
    """The longest one call can take with these botocore settings: botocore's ``standard``
    pauses between tries are at most 1 s, 2 s, 4 s... (MWAA, SSM and Secrets Manager send no
    ``x-amz-retry-after``, which could lengthen them)."""
    return attempts * (connect + read) + float(2 ** (attempts - 1) - 1)


def fit(left: float, connect: float, read: float, attempts: int) -> tuple[float, float, int] | None:
    """The (connect, read, attempts) for a call that has ``left`` seconds: as many attempts as
    fit, else one in ``left`` rounded down to ``_STEP`` (a fifth to connect); ``None`` for none."""
    for tries in range(attempts, 0, -1):
        if worst_case(connect, read, tries) <= left:
            return connect, read, tries
    budget = left // _STEP * _STEP
    if budget <= 0:
        return None
    shorter = min(connect, budget / 5)
    return shorter, min(read, budget - shorter), 1


class BoundedClients:
    """boto3 clients of one service whose timeouts and retries fit the current deadline:
    botocore cannot change a client's timeouts per call, so each shape (``fit``) gets a client,
    built once by ``make(config)``. ``fixed(client)`` always returns ``client`` (stubs)."""

    def __init__(
        self,
        make: Callable[[Any], Any],
        *,
        connect: float,
        read: float,
        attempts: int,
        name: str = "AWS",
        as_given: bool = False,
    ) -> None:
        self._make = make
        self.shape = (connect, read, attempts)
        self.name = name
        self._as_given = as_given
        self._clients: dict[tuple[float, float, int], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def fixed(cls, client: Any, name: str = "AWS") -> BoundedClients:
        return cls(lambda _: client, connect=0, read=0, attempts=1, name=name, as_given=True)

    def configured(self) -> Any:
        """The client of the configured shape (built on first use)."""
        return self._client(self.shape)

    def get(self) -> Any:
        """The client for a call made now; ``DeadlineExceeded`` when none fits in the time left."""
        left = remaining()
        if left is None or self._as_given:
            check(self.name)
            return self.configured()
        shape = fit(left, *self.shape) if left > 0 else None
        if shape is None:
            raise exceeded(f"no time left for a {self.name} call")
        return self._client(shape)

    def _client(self, shape: tuple[float, float, int]) -> Any:
        client = self._clients.get(shape)
        if client is None:
            from botocore.config import Config

            connect, read, attempts = shape
            config = Config(
                connect_timeout=connect,
                read_timeout=read,
                # total_max_attempts counts the first try; botocore's max_attempts does not
                retries={"mode": "standard", "total_max_attempts": attempts},
            )
            with self._lock:  # one client per shape; boto3 builds clients unsafely in parallel
                client = self._clients.get(shape)
                if client is None:
                    client = self._clients[shape] = self._make(config)
        return client


class DeadlineMiddleware:
    """Gives every HTTP request its deadline (``seconds``, on Lambda at most the invocation's
    remaining time less ``LAMBDA_MARGIN``). When it passes before the answer began,
    ``DeadlineExceeded`` is raised for the edge middleware to answer (504), the app's task is
    cancelled and what it sends later dropped; a streamed answer is ended there, with a last
    line saying so when it is text."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seconds = lambda_budget(scope.get(_LAMBDA_CONTEXT), self.seconds) or 0.0
        with within(seconds):
            await self._serve(scope, receive, send, seconds)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, seconds: float) -> None:
        answer = _Answer(send)
        task = asyncio.ensure_future(self.app(scope, receive, answer.send))
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        except BaseException:  # the server is stopping, or the client left
            task.cancel()
            raise
        if done:
            task.result()
            return
        answer.closed = True
        task.cancel()
        task.add_done_callback(_forget)
        what = f"{scope.get('method')} {scope.get('path')}"
        log.warning("%s: the %g s deadline passed before the answer was complete", what, seconds)
        if not answer.started:
            raise exceeded(what)
        if not answer.ended:
            note = b"\n[LabCAS: the answer was cut at the request deadline]\n"
            body = note if answer.text else b""
            await send({"type": "http.response.body", "body": body, "more_body": False})


class _Answer:
    """The app's ``send``, noting how far the answer got, and silent once ``closed``."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = self.ended = self.text = self.closed = False

    async def send(self, message: Message) -> None:
        if self.closed:
            return
        if message["type"] == "http.response.start":
            self.started = True
            headers = dict(message.get("headers") or [])
            self.text = headers.get(b"content-type", b"").startswith(b"text/")
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.ended = True
        await self._send(message)


def _forget(task: asyncio.Future[Any]) -> None:
    """Collect the outcome of an app task left behind at the deadline (never re-raised)."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("request task ended after its deadline: %r", task.exception())
