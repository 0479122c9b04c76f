"""The Airflow engine's HTTP transport: retries of reads, the connection limit, the deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from labcas_workflow_api import deadline

log = logging.getLogger(__name__)

#: Requests one process has open on Airflow at most; more wait for a connection (within the
#: timeout). Airflow's API server answers from a small database pool (5 + 10 by default), so
#: letting every request through at once only moves the queue there, where it times out.
MAX_CONNECTIONS = 10
RETRY_STATUSES = frozenset({502, 503, 504})
#: The request extension that marks a request safe to send again (reads: GETs and listings).
RETRY = "labcas.retry"
#: Seconds a try needs at least to be worth making: with less left, the last answer stands.
MIN_TRY = 1.0


def pooled_transport() -> httpx.HTTPTransport:
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    return httpx.HTTPTransport(limits=limits)


class RetryTransport(httpx.BaseTransport):
    """Sends a request marked ``RETRY`` up to ``retries`` more times, with exponential
    ``backoff``, on a 502, 503 or 504 or a connection error; not on a read timeout (the next
    try would wait as long). Each try's timeouts are cut to the time left before the request
    deadline, and a try is made again only when the pause and ``MIN_TRY`` are left."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        retries: int = 2,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.retries = max(0, retries)
        self.backoff = backoff
        self.sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempts = 1 + (self.retries if request.extensions.get(RETRY) else 0)
        timeouts = dict(request.extensions.get("timeout") or {})
        attempt = 1
        while True:
            request.extensions["timeout"] = fitted(timeouts, request)
            pause = self.backoff * 2 ** (attempt - 1)
            try:
                response = self.inner.handle_request(request)
            except httpx.TransportError as exc:
                if not self._again(exc, attempt, attempts, pause):
                    raise
            else:
                if not self._again(response, attempt, attempts, pause):
                    return response
                response.close()
            attempt += 1
            log.info(
                "retrying %s %s (attempt %d of %d)", request.method, request.url, attempt, attempts
            )
            self.sleep(pause)

    @staticmethod
    def _again(
        outcome: httpx.Response | httpx.TransportError, attempt: int, attempts: int, pause: float
    ) -> bool:
        if attempt >= attempts:
            return False
        if isinstance(outcome, httpx.Response):
            if outcome.status_code not in RETRY_STATUSES:
                return False
        elif isinstance(outcome, httpx.TimeoutException) and not isinstance(
            outcome, httpx.ConnectTimeout
        ):
            return False
        left = deadline.remaining()
        return left is None or left >= pause + MIN_TRY

    def close(self) -> None:
        self.inner.close()


def fitted(timeouts: dict[str, float | None], request: httpx.Request) -> dict[str, float | None]:
    """httpx's ``timeout`` extension cut to the time left before the request deadline (if any);
    ``DeadlineExceeded`` when none is left."""
    if deadline.remaining() is None:
        return timeouts
    what = f"Airflow: {request.method} {request.url.path}"
    keys = ("connect", "read", "write", "pool")
    return {key: deadline.bounded(timeouts.get(key), what) for key in keys}
