"""Waiting in tests: poll until a condition holds or a deadline passes, taking a slow or
refused answer on the way as "not yet" (on a loaded machine an answer can come late, or a
503 can come while a server is busy), never as the end of the test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from labcas_workflow_api.domain.errors import UpstreamError

T = TypeVar("T")

#: What a probe may raise that means "ask again": a read or connect timeout, a broken
#: connection, or the engine adapter's answer to one (``UpstreamTimeout``/``Unavailable``...).
TRANSIENT: tuple[type[BaseException], ...] = (httpx.TransportError, UpstreamError)


def wait_until(
    probe: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = 1.0,
    what: str = "the condition",
    transient: tuple[type[BaseException], ...] = TRANSIENT,
) -> T:
    """The first truthy value ``probe`` returns within ``timeout`` seconds; ``TimeoutError``
    (naming ``what`` and the last answer or error) otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
        except transient as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}; last: {last!r}")
        time.sleep(interval)
