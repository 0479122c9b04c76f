"""Slow clients cannot hold the server (issue 10.13), on the real ``labcas-workflow-api serve``.

Connections that send nothing, half a header, a header and half a body, or a header one byte
at a time are closed by the server within ``LABCAS_HEADER_TIMEOUT`` / ``LABCAS_BODY_TIMEOUT``
(the trickle does not reset the deadline), while normal requests keep being answered. A
request line and headers over 16 KiB, whole or still coming, are refused with a 431.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from labcas_workflow_api.auth.jwt import mint_token
from tests.security.raw import received
from tests.security.stack import SECRET, Stack, serve_process

pytestmark = pytest.mark.integration

BOUND = 2.0  # the header and body timeouts given to the server
SLACK = 1.5  # scheduling, and the server's own loop
PER_KIND = 100
TRICKLES = 20


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.setblocking(False)
    return sock


def _half_header(port: str) -> bytes:
    return f"GET /workflows HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthoriz".encode()


def _half_body(port: str) -> bytes:
    head = (
        f"POST /workflows/alpha/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {mint_token(SECRET, 'thomas')}\r\n"
        "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    )
    return head.encode() + b'{"in_data_selection": "tiny", "note": "'


def _wait_closed(
    socks: dict[socket.socket, str], began: float, limit: float
) -> dict[str, list[float]]:
    """Seconds after ``began`` at which the server closed each socket, per kind (a 408 answer
    may come first); sockets still open after ``limit`` seconds are not in the result."""
    closed: dict[str, list[float]] = {kind: [] for kind in set(socks.values())}
    selector = selectors.DefaultSelector()
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    left = len(socks)
    while left and time.monotonic() - began < limit:
        for key, _ in selector.select(timeout=0.1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            if data:
                assert data.startswith(b"HTTP/1.1 408 "), data[:100]
                continue
            selector.unregister(sock)
            left -= 1
            closed[socks[sock]].append(time.monotonic() - began)
    selector.close()
    return closed


def test_half_sent_requests_are_closed_within_the_bound(
    stack: Stack, fault_config: Path, tmp_path: Path
) -> None:
    env = {"LABCAS_HEADER_TIMEOUT": str(BOUND), "LABCAS_BODY_TIMEOUT": str(BOUND)}
    with serve_process(stack, fault_config, tmp_path, **env) as served:
        port = served.url.rsplit(":", 1)[1]
        socks: dict[socket.socket, str] = {}
        began = time.monotonic()
        for kind, payload in (
            ("silent", b""),
            ("half header", _half_header(port)),
            ("half body", _half_body(port)),
        ):
            for _ in range(PER_KIND):
                sock = _connect(served.url)
                if payload:
                    sock.sendall(payload)
                socks[sock] = kind
        trickling = [_connect(served.url) for _ in range(TRICKLES)]
        for sock in trickling:
            socks[sock] = "trickle"
        stop = threading.Event()

        def trickle() -> None:
            text = _half_header(port) + b"ization: Bearer x" * 20
            for i in range(len(text)):
                if stop.wait(0.3):
                    return
                for sock in trickling:
                    with contextlib.suppress(OSError):
                        sock.send(text[i : i + 1])

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        normal: list[float] = []

        def meanwhile() -> None:
            with httpx.Client(base_url=served.url, timeout=10) as http:
                while not stop.is_set():
                    t0 = time.monotonic()
                    ok = http.get(
                        "/workflows",
                        headers={"Authorization": f"Bearer {mint_token(SECRET, 'thomas')}"},
                    )
                    assert ok.status_code == 200, ok.text
                    normal.append(time.monotonic() - t0)
                    stop.wait(0.1)

        prober = threading.Thread(target=meanwhile, daemon=True)
        prober.start()
        try:
            closed = _wait_closed(socks, began, limit=max(10.0, BOUND * 4))
        finally:
            stop.set()
            sender.join(timeout=5)
            prober.join(timeout=15)
            for sock in socks:
                sock.close()
    counts = {kind: sum(1 for k in socks.values() if k == kind) for kind in closed}
    for kind, times in sorted(closed.items()):
        latest = f"{max(times):.2f}s" if times else "-"
        print(f"\n{kind}: {len(times)} of {counts[kind]} closed by the server, last {latest}")
    print(f"normal requests meanwhile: {len(normal)}, slowest {max(normal, default=0):.3f}s")
    for kind, times in closed.items():
        assert len(times) == counts[kind], f"{kind}: {counts[kind] - len(times)} still open"
        assert max(times) <= BOUND + SLACK, f"{kind}: closed after {max(times):.2f}s"
    assert normal and max(normal) < 2.0


def test_request_heads_over_16_kib_are_refused(
    stack: Stack, fault_config: Path, tmp_path: Path
) -> None:
    with serve_process(stack, fault_config, tmp_path) as served:
        port = served.url.rsplit(":", 1)[1]
        head = f"GET /workflows HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
        token = mint_token(SECRET, "thomas")
        whole = head + f"Authorization: Bearer {token}\r\nX-Pad: {'a' * 20_000}\r\n\r\n".encode()
        many = head + b"".join(f"X-Pad-{i}: {'a' * 100}\r\n".encode() for i in range(200))
        endless = head + b"X-Pad: " + b"a" * 300_000  # never finished
        for payload in (whole, many + b"\r\n", endless):
            answer = received(served.url, payload, timeout=5)
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        with httpx.Client(base_url=served.url, timeout=10) as http:
            answer = http.get(
                "/workflows",
                headers={"Authorization": f"Bearer {token}", "X-Pad": "a" * 12_000},
            )
            assert answer.status_code == 200, answer.text
