"""The API as the benches run it: ``labcas-workflow-api serve`` in a process of its own, on a
local Airflow, started and stopped the same way by every bench.

``BENCH_SERVER_PYTHONPATH`` runs the server from another checkout (e.g. a baseline's ``src``,
after a folder whose ``uvloop``/``httptools`` packages raise ImportError to measure uvicorn
without its extras), while the bench itself runs from this one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from labcas_workflow_api.devstack.airflow import AirflowServer
from labcas_workflow_api.devstack.process import free_port


def engine_env(
    airflow: AirflowServer, config: Path, secret: str, **settings: str
) -> dict[str, str]:
    """This process's environment plus the ``LABCAS_*`` settings that point the API at
    ``airflow`` with the access config at ``config``; ``settings`` add or override some
    (``LABCAS_STAGING_BUCKET="..."``)."""
    return {
        **os.environ,
        "LABCAS_CONFIG": str(config),
        "LABCAS_ENGINE": "airflow3" if airflow.major >= 3 else "airflow2",
        "LABCAS_ENGINE_URL": airflow.url,
        "LABCAS_ENGINE_USERNAME": airflow.username,
        "LABCAS_ENGINE_PASSWORD": airflow.password,
        "LABCAS_JWT_SECRET": secret,
        **settings,
    }


def serve_api(
    env: dict[str, str],
    *,
    workers: int = 1,
    log_path: Path | None = None,
    ready: str = "/healthz",
    timeout: float = 60,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server and wait until ``ready`` answers 200; the process and the base URL."""
    port = free_port()
    server_path = os.environ.get("BENCH_SERVER_PYTHONPATH")
    if server_path:  # measure another checkout's server (a baseline) with this bench
        env = {**env, "PYTHONPATH": server_path}
    command = [
        *(sys.executable, "-m", "labcas_workflow_api.cli", "serve"),
        *("--port", str(port), "--workers", str(workers), "--log-level", "warning"),
    ]
    if log_path is None:
        process = subprocess.Popen(command, env=env, start_new_session=True)
    else:
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command, env=env, stdout=log, stderr=log, start_new_session=True
            )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + ready, timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_api(process)
    raise RuntimeError(f"the API did not answer {ready} within {timeout:.0f} s")


def stop_api(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
