"""Airflow fixtures: real Airflow servers on 127.0.0.1 whose tasks reach ``s3_server``.

``airflow3``: Airflow 3.3.2 (``/api/v2``, JWT). ``airflow2``: Airflow 2.10 (``/api/v1``, basic
auth and session cookies, LocalExecutor). Both: cached virtualenv, SQLite, the repo's ``dags/``,
DAG ``nebraska_demo`` parsed before they are yielded. Attributes: ``url``, ``api_url``,
``username``, ``password``, ``home``, ``log_path``, ``ready_after``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from labcas_workflow_api.devstack.airflow import AirflowServer
from labcas_workflow_api.devstack.airflow_venv import (
    AIRFLOW2_VERSION,
    DEFAULT_VERSION,
    ensure_airflow_venv,
)
from tests.release import track

__all__ = ["AIRFLOW2_VERSION", "AIRFLOW_VERSION", "airflow2", "airflow3"]

AIRFLOW_VERSION = DEFAULT_VERSION
log = logging.getLogger(__name__)


def running_airflow(name: str, version: str, s3_server: Any, home: Any) -> Iterator[AirflowServer]:
    """Install (once), start and wait for an Airflow; stop it when the generator closes, or
    once no later test uses fixture ``name``."""
    began = time.monotonic()
    venv = ensure_airflow_venv(version)
    installed = time.monotonic() - began
    server = AirflowServer(
        venv,
        version=version,
        home=home,
        extra_env={
            "LABCAS_S3_ENDPOINT_URL": s3_server.endpoint_url,
            "AWS_ACCESS_KEY_ID": s3_server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
            "AWS_DEFAULT_REGION": s3_server.region,
        },
    )
    stop = track(name, server.stop)
    server.start()
    try:
        server.wait_ready(timeout=180)
        ready = time.monotonic()
        server.wait_for_dag("nebraska_demo", timeout=120)
        log.warning(
            "Airflow %s: venv %.1fs, ready in %.1fs, nebraska_demo parsed %.1fs later (log %s)",
            version,
            installed,
            server.ready_after,
            time.monotonic() - ready,
            server.log_path,
        )
        yield server
    finally:
        stop()


@pytest.fixture(scope="session")
def airflow3(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    home = tmp_path_factory.mktemp("airflow3")
    yield from running_airflow("airflow3", AIRFLOW_VERSION, s3_server, home)


@pytest.fixture(scope="session")
def airflow2(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    home = tmp_path_factory.mktemp("airflow2")
    yield from running_airflow("airflow2", AIRFLOW2_VERSION, s3_server, home)
