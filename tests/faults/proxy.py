"""A small TCP proxy on 127.0.0.1 that injects faults between the API and a server.

Runs an asyncio loop in a daemon thread. Modes, switchable at any time:

- ``up()`` forwards bytes both ways (the default);
- ``down()`` closes the listening socket and every open connection: clients get "connection
  refused", as from a stopped server; ``up()`` listens again on the same port;
- ``delay = s`` holds every chunk from the server ``s`` seconds (a slow server);
- ``hang = True`` accepts connections and requests but never answers;
- ``drop_response(pattern)`` forwards the next request whose first line matches ``pattern``,
  lets the server handle it, then closes the client connection instead of relaying the answer
  (a fault between the server accepting and the client hearing of it); ``delay_response``
  holds that answer instead.

``retarget(port)`` points new connections at another upstream port (a restarted server).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = 0.0
        self.hang = False
        self.dropped = 0
        self.request_lines: list[str] = []  # first line of each chunk sent upstream
        self.open_upstream = 0  # connections open to the server now, and at most
        self.most_upstream = 0
        self._drop: list[tuple[re.Pattern[bytes], float | None]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._unhang = self._run(_new_event())
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self._run(self._listen())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control (from any thread) -----------------------------------------------------------

    def up(self) -> None:
        if self._server is None:
            self._run(self._listen())

    def down(self) -> None:
        self._run(self._close_all())

    def retarget(self, port: int) -> None:
        self.upstream = (self.upstream[0], port)

    def drop_response(self, pattern: str) -> None:
        """Swallow the answer to the next request whose request line matches ``pattern``."""
        self._drop.append((re.compile(pattern.encode()), None))

    def delay_response(self, pattern: str, seconds: float) -> None:
        """Hold the answer to the next request whose request line matches ``pattern``."""
        self._drop.append((re.compile(pattern.encode()), seconds))

    def reset(self) -> None:
        """Back to forwarding; connections held by ``hang`` are closed."""
        self.delay, self.hang, self._drop = 0.0, False, []
        self._loop.call_soon_threadsafe(self._release)
        self.up()

    def _release(self) -> None:
        self._unhang.set()
        self._unhang = asyncio.Event()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self._close_all())
            self._run(asyncio.sleep(0.2))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # -- inside the loop ---------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_all(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        for writer in list(self._writers):
            _abort(writer)
        self._writers.clear()
        self._release()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.hang:
                await self._unhang.wait()  # never answer
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                _abort(writer)
                return
            self._writers.add(up_writer)
            self.open_upstream += 1
            self.most_upstream = max(self.most_upstream, self.open_upstream)
            held: list[float | None] = []  # per connection: what to do with the next answer
            await asyncio.gather(
                self._pipe(reader, up_writer, held, upstream=True),
                self._pipe(up_reader, writer, held, upstream=False),
                return_exceptions=True,
            )
            self._writers.discard(up_writer)
            self.open_upstream -= 1
            _abort(up_writer)
        finally:
            self._writers.discard(writer)
            _abort(writer)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        held: list[float | None],
        *,
        upstream: bool,
    ) -> None:
        try:
            while True:
                chunk = await source.read(65536)
                if not chunk:
                    break
                if upstream:
                    line = chunk.split(b"\r\n", 1)[0]
                    self.request_lines.append(line.decode("latin-1"))
                    for rule in list(self._drop):
                        if rule[0].search(line):
                            self._drop.remove(rule)
                            held.append(rule[1])
                            break
                else:
                    if held:
                        action = held.pop(0)
                        if action is None:
                            self.dropped += 1
                            _abort(sink)
                            return
                        await asyncio.sleep(action)
                    if self.hang:
                        await self._unhang.wait()
                        return
                    if self.delay:
                        await asyncio.sleep(self.delay)
                sink.write(chunk)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            _abort(sink)


async def _new_event() -> asyncio.Event:
    return asyncio.Event()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once with a reset (no lingering half-open sockets)."""
    with contextlib.suppress(Exception):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()
