"""The local Airflow harness survives what kills a SQLite Airflow: WAL journal, and a component
that dies is started again while the others keep serving."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from datetime import UTC, datetime

import httpx
import pytest

from labcas_workflow_api.devstack.airflow import AirflowServer
from labcas_workflow_api.devstack.process import command_line, process_table

pytestmark = pytest.mark.integration


@pytest.fixture(
    params=[pytest.param(n, marks=pytest.mark.uses(n)) for n in ("airflow3", "airflow2")]
)
def airflow(request: pytest.FixtureRequest) -> AirflowServer:
    server: AirflowServer = request.getfixturevalue(request.param)
    return server


def group_processes(leader: int) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process in ``leader``'s process group."""
    table = process_table()
    return {pid: (p.parent, command_line(pid)) for pid, p in table.items() if p.group == leader}


def scheduler_pid(server: AirflowServer) -> int:
    """The scheduler started by the supervising shell (not one of its executor's workers)."""
    assert server._process is not None
    processes = group_processes(server._process.pid)
    shells = {pid for pid, (_, command) in processes.items() if command.startswith("/bin/bash")}
    [pid] = [
        pid
        for pid, (parent, command) in processes.items()
        if parent in shells and pid not in shells and "airflow scheduler" in command
    ]
    return pid


def test_the_database_is_in_wal_mode(airflow: AirflowServer) -> None:
    with sqlite3.connect(airflow.home / "airflow.db", timeout=30) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def heartbeat(airflow: AirflowServer) -> datetime | None:
    """The scheduler's latest heartbeat as Airflow's health endpoint reports it."""
    path = "/monitor/health" if airflow.major >= 3 else "/health"
    try:
        health = httpx.get(airflow.api_url + path, timeout=10).json()
        beat = health["scheduler"]["latest_scheduler_heartbeat"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return datetime.fromisoformat(beat) if beat else None


def test_a_dead_scheduler_is_started_again(airflow: AirflowServer) -> None:
    killed = scheduler_pid(airflow)
    os.kill(killed, signal.SIGKILL)
    at = datetime.now(UTC)
    began = time.monotonic()
    deadline = began + 120
    while (beat := heartbeat(airflow)) is None or beat <= at:
        assert time.monotonic() < deadline, airflow.log_tail()
        time.sleep(0.5)
    beating = time.monotonic() - began
    airflow.wait_ready(timeout=60)
    assert scheduler_pid(airflow) != killed
    assert "exited with 137; restart 1 of 5" in airflow.log_tail(2000)
    print(f"\nAirflow {airflow.version}: scheduler killed, a new one beats after {beating:.1f} s")
