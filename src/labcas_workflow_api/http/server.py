"""The standalone server's uvicorn options, and the read deadlines uvicorn lacks.

uvicorn's httptools protocol on uvloop, measured with ``wrk`` (50 connections, one worker, 2
cores): ``/healthz`` 800 -> 1,343 requests/s, ``GET /data-selections`` 517 -> 787, over h11 on
asyncio (``docs/testing.rst``). uvicorn (0.54) sets no deadline on receiving a request and
httptools no bound on its head: a client sending half a header or body holds its connection
forever (with h11, 400 such were all open after 40 s, each counted against
``limit_concurrency``), an endless header fills memory. Hence nginx's ``client_header_timeout``
and ``client_body_timeout`` (not reset by a trickle of bytes) and a 431 over 16 KiB, h11's bound.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from labcas_workflow_api.edge import problem_body
from labcas_workflow_api.settings import Settings

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024

_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)
_MALFORMED_BODY = problem_body(400, "Bad request", "malformed HTTP request")
_MALFORMED = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\n"
    b"x-content-type-options: nosniff\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_MALFORMED_BODY)
) + _MALFORMED_BODY


class _HeadTooLarge(Exception):
    """Raised in a parser callback: httptools stops parsing, uvicorn answers and closes."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on receiving each request's head and body,
    and a bound on the head's size.

    The parser's callbacks say what the client owes: a head from the connection's opening or a
    request's first byte, a body from the end of the head to the end of the request; nothing
    while a request is answered or the connection idles (uvicorn's keep-alive timeout applies).
    ``_watch`` arms the deadline of what is owed after each read, so a request read at once
    arms none. A head that begins inside a read that ended another request is counted by its
    parts seen whole (httptools does not say where in a read a request begins)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting: str | None = None  # what the armed deadline is for
        self._owed: str | None = "head"  # what the client owes now: "head", "body" or None
        self._head_begun = False  # the owed head's first byte arrived
        self._head_parts = 0  # bytes of the owed head's request line and complete headers
        self._head_read = 0  # bytes read while the owed head is incomplete
        self._head_refused = False
        self._completed = 0  # requests received whole on this connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._watch()

    def data_received(self, data: bytes) -> None:
        completed = self._completed
        super().data_received(data)
        if self._owed == "head" and self._head_begun:
            # httptools holds a partial header that on_header has not seen; when a request
            # ended in this chunk, only the next head's parts seen whole are counted
            if self._completed != completed:
                self._head_read = self._head_parts
            else:
                self._head_read += len(data)
            if self._head_read > MAX_HEAD and not self.transport.is_closing():
                self._refuse_head()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._owed, self._head_begun, self._head_parts, self._head_read = "head", True, 0, 0

    def on_url(self, url: bytes) -> None:
        self._grow(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._owed, self._head_begun = "body", False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._owed = None
        self._completed += 1
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """What uvicorn answers to what httptools cannot parse (such as a control character
        in a header, which h11 let through): a 400 problem rather than its plain text; a 431
        when the parser stopped on a head over ``MAX_HEAD``."""
        if self._head_refused:
            self._refuse_head()
        else:
            self.transport.write(_MALFORMED)
            self.transport.close()

    def _grow(self, size: int) -> None:
        self._head_parts += size
        if self._head_parts > MAX_HEAD:
            self._head_refused = True
            raise _HeadTooLarge

    def _refuse_head(self) -> None:
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        log.info("refused a request of %s: its head is over %d bytes", peer, MAX_HEAD)
        self.transport.write(_HEAD_TOO_LARGE)
        self.transport.close()

    def _watch(self) -> None:
        """Arm the deadline of what the client owes now (a head, a body), or none."""
        awaiting = None if self.transport.is_closing() else self._owed
        if awaiting == self._awaiting:
            return
        self._disarm()
        if awaiting is not None:
            seconds = self.header_timeout if awaiting == "head" else self.body_timeout
            self._deadline = self.loop.call_later(seconds, self._expired)
            self._awaiting = awaiting

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._awaiting = None, None

    def _expired(self) -> None:
        awaiting, self._deadline, self._awaiting = self._awaiting, None, None
        if self.transport.is_closing():
            return
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        log.info("closing the connection of %s: its request %s came too slowly", peer, awaiting)
        if awaiting == "head" and self._head_begun:
            self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()


def bounded_protocol(header_timeout: float, body_timeout: float) -> type[BoundedHttpToolsProtocol]:
    """``BoundedHttpToolsProtocol`` with these deadlines (seconds)."""
    return type(
        "LabcasHttpProtocol",
        (BoundedHttpToolsProtocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options for the standalone server: ``X-Forwarded-*`` is believed only from the
    proxies the operator names; ``http/asgi.py`` builds the protocol in each worker."""
    return {
        "loop": "uvloop",
        "http": "labcas_workflow_api.http.asgi:Protocol",
        "ws": "none",
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or None,
        "access_log": False,
    }
