"""The dev stack's API server: "ready" said only once ``/healthz`` and ``/readyz`` answer 200."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx


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

    def serve(self, announce: Callable[[], None], *, ready_timeout: float = 60.0) -> bool:
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
