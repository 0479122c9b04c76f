"""The standalone server's uvicorn options, and the read deadlines uvicorn lacks.

uvicorn (0.54, h11) closes idle keep-alive connections after ``timeout_keep_alive`` and
answers 503 beyond ``limit_concurrency``, but sets no deadline on a request being received: a
client that sends half a header, or half a body, and stops holds its connection forever
(measured: 400 such connections were all still open after 40 s, and each counted against
``limit_concurrency``). ``bounded_protocol`` adds the two deadlines that nginx calls
``client_header_timeout`` and ``client_body_timeout``, measured from the connection's opening
(or the first byte of the next request on a kept-alive one) and from the end of the headers;
neither is reset by a trickle of bytes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from labcas_workflow_api.settings import Settings

log = logging.getLogger(__name__)

_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on receiving each request's head and body."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting: str | None = None  # "head" or "body": what the deadline is for

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Arm the deadline of what the client owes now (a head, a body), or none."""
        awaiting: str | None = None
        if not self.transport.is_closing():
            state = self.conn.their_state
            if state is h11.SEND_BODY:
                awaiting = "body"
            elif state is h11.IDLE and (self.cycle is None or self.conn.trailing_data[0]):
                awaiting = "head"  # a new connection, or part of the next request
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
        if awaiting == "head" and self.conn.trailing_data[0]:
            self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()


def bounded_protocol(header_timeout: float, body_timeout: float) -> type[BoundedH11Protocol]:
    """``BoundedH11Protocol`` with these deadlines (seconds)."""
    return type(
        "LabcasH11Protocol",
        (BoundedH11Protocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options for the standalone server, from the settings: the bounds on
    connections, and ``X-Forwarded-*`` believed only from the proxies the operator names.
    ``http`` is the protocol class that ``http/asgi.py`` builds from the same settings in each
    worker process."""
    return {
        "http": "labcas_workflow_api.http.asgi:Protocol",
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or None,
        "access_log": False,
    }
