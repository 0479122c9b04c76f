"""Start a local moto server (SSM, Secrets Manager, ...) on 127.0.0.1 for tests."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from labcas_workflow_api.devstack.process import free_port, spawn, stop_process_tree


@dataclass
class MotoServer:
    """A running ``moto.server`` and the means to stop it."""

    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL after ``grace`` seconds."""
        stop_process_tree(self.process, grace, "moto server")


def start_moto(*, log_path: Path | str | None = None, timeout: float = 30.0) -> MotoServer:
    """Start ``python -m moto.server`` on a free 127.0.0.1 port and wait until it answers."""
    port = free_port()
    log_file = Path(log_path or Path(tempfile.mkdtemp(prefix="labcas-moto-")) / "moto.log")
    process = spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log_file
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
    return server
