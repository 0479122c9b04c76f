"""Start a local moto server (SSM, Secrets Manager, ...) on 127.0.0.1 for tests."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from labcas_workflow_api.devstack.process import free_port, stop_process_tree

REGION = "us-east-1"


@dataclass
class MotoServer:
    """A running ``moto.server`` and the means to stop it."""

    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    region: str = REGION
    start_seconds: float = 0.0

    def reset(self) -> None:
        """Drop every resource the server holds."""
        httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL after ``grace`` seconds."""
        stop_process_tree(self.process, grace, "moto server")

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_moto(*, timeout: float = 30.0, log_path: Path | str | None = None) -> MotoServer:
    """Start ``python -m moto.server`` on a free 127.0.0.1 port and wait until it answers."""
    began = time.monotonic()
    port = free_port()
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="labcas-moto-")) / "moto.log"
    log_file = Path(log_path)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = MotoServer(endpoint_url=f"http://127.0.0.1:{port}", process=process, log_path=log_file)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited with {process.returncode}; see {log_file}")
            try:
                httpx.get(f"{server.endpoint_url}/moto-api/data.json", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"moto server not ready after {timeout}s") from None
                time.sleep(0.1)
    except BaseException:
        server.stop()
        raise
    server.start_seconds = time.monotonic() - began
    return server
