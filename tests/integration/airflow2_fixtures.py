"""Airflow 2 fixture (owned by the engines work).

``airflow2``: a real Airflow 2.10 on 127.0.0.1 (cached virtualenv, SQLite, LocalExecutor, the
repo's ``dags/``, ``/api/v1`` with basic auth and session cookies) whose tasks reach
``s3_server``; DAG ``nebraska_demo`` is parsed before it is yielded. Attributes as ``airflow3``:
``url``, ``api_url``, ``username``, ``password``, ``home``, ``log_path``, ``ready_after``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from labcas_workflow_api.devstack.airflow import (
    AIRFLOW2_VERSION,
    AirflowServer,
    ensure_airflow_venv,
)

__all__ = ["AIRFLOW2_VERSION", "airflow2"]

log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def airflow2(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    started = time.monotonic()
    venv = ensure_airflow_venv(AIRFLOW2_VERSION)
    installed = time.monotonic() - started
    server = AirflowServer(
        venv,
        version=AIRFLOW2_VERSION,
        home=tmp_path_factory.mktemp("airflow2"),
        extra_env={
            "LABCAS_S3_ENDPOINT_URL": s3_server.endpoint_url,
            "AWS_ACCESS_KEY_ID": s3_server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
            "AWS_DEFAULT_REGION": s3_server.region,
        },
    )
    server.start()
    try:
        server.wait_ready(timeout=180)
        parsed = time.monotonic()
        server.wait_for_dag("nebraska_demo", timeout=120)
        log.warning(
            "Airflow %s: venv %.1fs, ready in %.1fs, nebraska_demo parsed %.1fs later (log %s)",
            AIRFLOW2_VERSION,
            installed,
            server.ready_after,
            time.monotonic() - parsed,
            server.log_path,
        )
        yield server
    finally:
        server.stop()
