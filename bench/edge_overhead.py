"""Per-request cost of the edge (request id, CORS, problem mapping, and the standalone
server's access line), in process: ASGI calls of the whole app over fakes in one event loop,
no sockets. Medians of 15 interleaved rounds.

    python bench/edge_overhead.py            # access line off, then on
    PYTHONPATH=<old tree>/src python bench/edge_overhead.py   # the same app at another commit
"""

from __future__ import annotations

import asyncio
import io
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.settings import Settings
from tests.unit.fakes import SECRET, FakeEngine, FakeStore, write_config


def build(access_log: bool) -> Any:
    settings = Settings(
        config=str(write_config(Path(tempfile.mkdtemp()))),
        jwt_secret=SECRET,
        _env_file=None,  # type: ignore[call-arg]
    )
    container = build_container(settings, engine=FakeEngine(), store=FakeStore())
    try:
        return create_app(container=container, access_log=access_log)
    except TypeError:  # a commit before the access line
        return create_app(container=container)


async def call(app: Any, path: str, token: bytes | None) -> None:
    headers = [(b"host", b"127.0.0.1:8000")] + ([(b"authorization", token)] if token else [])
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200, sent


async def measure(apps: dict[str, Any], rounds: int = 15) -> None:
    """The apps' rounds interleaved (so that a busy machine slows them alike)."""
    token = f"Bearer {mint_token(SECRET, 'thomas')}".encode()
    for path, auth, count in (("/healthz", None, 1000), ("/workflows", token, 300)):
        times: dict[str, list[float]] = {name: [] for name in apps}
        for app in apps.values():
            for _ in range(100):
                await call(app, path, auth)
        for _ in range(rounds):
            for name, app in apps.items():
                began = time.perf_counter()
                for _ in range(count):
                    await call(app, path, auth)
                times[name].append((time.perf_counter() - began) / count * 1e6)
        for name, values in times.items():
            print(f"  GET {path:11s} {name:16s} median {statistics.median(values):7.1f} us/request")


def main() -> None:
    logging.basicConfig(stream=io.StringIO(), level=logging.WARNING)
    logging.getLogger("labcas_workflow_api").setLevel(logging.INFO)
    asyncio.run(measure({"access line off": build(False), "access line on": build(True)}))


if __name__ == "__main__":
    main()
