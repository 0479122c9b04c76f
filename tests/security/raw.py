"""A raw HTTP/1.1 client: sends request targets, headers and bodies exactly as given.

HTTP libraries normalize paths (dot segments), refuse control characters in headers and
encode text; hostile input has to reach the server unchanged, so it goes through a socket.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def request(
    base_url: str,
    method: str,
    target: str | bytes,
    headers: list[tuple[str | bytes, str | bytes]] | None = None,
    body: bytes = b"",
    timeout: float = 30,
) -> RawResponse:
    """One request on a fresh connection (``Connection: close``)."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [
        f"{method} ".encode()
        + (target.encode() if isinstance(target, str) else target)
        + b" HTTP/1.1",
        f"Host: {host}:{port}".encode(),
        b"Connection: close",
    ]
    for name, value in headers or []:
        lines.append(_b(name) + b": " + _b(value))
    given = {_b(name).lower() for name, _ in headers or []}
    framed = b"content-length" in given or b"transfer-encoding" in given
    if (body or method in ("POST", "PUT")) and not framed:
        lines.append(f"Content-Length: {len(body)}".encode())
    payload = b"\r\n".join(lines) + b"\r\n\r\n" + body
    return exchange(base_url, payload, timeout)


def exchange(base_url: str, payload: bytes, timeout: float = 30) -> RawResponse:
    """Send ``payload`` (a whole request, head and body) on a fresh connection; the answer."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return _parse(b"".join(chunks))


def received(base_url: str, *pieces: bytes, pause: float = 0.0, timeout: float = 30) -> bytes:
    """Everything the server sends back to ``pieces`` (sent ``pause`` s apart, as far as it
    lets them through) until it closes the connection or stays quiet ``timeout`` s: none, one
    or several answers, unparsed."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    answer = b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            for i, piece in enumerate(pieces):
                if i and pause:
                    time.sleep(pause)
                sock.sendall(piece)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


def _b(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _parse(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines or not lines[0].startswith(b"HTTP/1.1 "):
        raise AssertionError(f"no HTTP answer: {data[:200]!r}")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return RawResponse(status, headers, body)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out
