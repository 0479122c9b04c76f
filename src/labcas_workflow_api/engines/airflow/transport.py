"""The HTTP transport under the Airflow engine: retries of reads, and the connection limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

log = logging.getLogger(__name__)

#: Requests one process has open on Airflow at most; more wait for a connection (within the
#: timeout). Airflow's API server answers from a small database pool (5 + 10 by default), so
#: letting every request through at once only moves the queue there, where it times out.
MAX_CONNECTIONS = 10
RETRY_STATUSES = frozenset({502, 503, 504})
#: The request extension that marks a request safe to send again (reads: GETs and listings).
RETRY = "labcas.retry"


def pooled_transport() -> httpx.HTTPTransport:
    """An HTTP transport keeping at most ``MAX_CONNECTIONS`` connections open."""
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    return httpx.HTTPTransport(limits=limits)


class RetryTransport(httpx.BaseTransport):
    """Sends a request marked with the ``RETRY`` extension up to ``retries`` more times when the
    answer is a 502, 503 or 504 or no connection was made (or it broke), with exponential
    ``backoff``. A read timeout is not retried: the next try would wait as long. After the last
    try, the last answer is returned or the last error raised."""

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
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = self.inner.handle_request(request)
            except httpx.TransportError as exc:
                slow = isinstance(exc, httpx.TimeoutException)
                if last or (slow and not isinstance(exc, httpx.ConnectTimeout)):
                    raise
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return response
                response.close()
            log.info(
                "retrying %s %s (attempt %d of %d)",
                request.method,
                request.url,
                attempt + 1,
                attempts,
            )
            self.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.inner.close()
