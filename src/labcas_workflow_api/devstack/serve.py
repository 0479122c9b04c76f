"""The dev stack's API server: its port held from the first check on, and "ready" said only
once the API answers ``/healthz`` and ``/readyz`` says ready."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

READY_TIMEOUT = 60.0


def hold_port(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A socket bound to ``host:port`` (not listening yet), so nothing else takes the port
    while the rest of the stack starts. Raises ``OSError`` when the port is in use."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class ApiServer:
    """uvicorn serving ``app`` on a held socket until ``stop()``, Ctrl-C or SIGTERM."""

    def __init__(self, app: Any, sock: socket.socket, *, log_level: str = "info") -> None:
        import uvicorn

        self.sock = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self.not_ready = ""  # why the API never became ready, when it did not

    def stop(self) -> None:
        self._server.should_exit = True

    def serve(self, announce: Callable[[], None], *, ready_timeout: float = READY_TIMEOUT) -> bool:
        """Serve until stopped; call ``announce`` once, when the API is ready. Return False
        (having stopped the server, ``not_ready`` saying why) when it is not ready within
        ``ready_timeout`` seconds."""
        watcher = threading.Thread(
            target=self._announce_when_ready, args=(announce, ready_timeout), daemon=True
        )
        watcher.start()
        self._server.run(sockets=[self.sock])
        watcher.join(timeout=5)
        return not self.not_ready

    def _announce_when_ready(self, announce: Callable[[], None], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(base_url=self.url, timeout=5) as http:
            while not self._server.should_exit:
                try:
                    health = http.get("/healthz")
                    ready = http.get("/readyz") if health.status_code == 200 else health
                    if ready.status_code == 200:
                        announce()
                        return
                    last = f"{ready.request.url.path} answered {ready.status_code}: {ready.text}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() > deadline:
                    self.not_ready = f"the API was not ready after {timeout:.0f} s ({last})"
                    self.stop()
                    return
                time.sleep(0.2)
