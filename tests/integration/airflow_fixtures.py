"""Airflow fixtures (owned by the Airflow engine work).

``airflow3``: a real Airflow 3.3.2 on 127.0.0.1 (cached virtualenv, SQLite, the repo's ``dags/``)
whose tasks reach ``s3_server``; DAG ``nebraska_demo`` is parsed before it is yielded.
Attributes: ``url``, ``username``, ``password``, ``home``, ``log_path``, ``ready_after``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from labcas_workflow_api.devstack.airflow import AirflowServer, ensure_airflow_venv

__all__ = ["AIRFLOW_VERSION", "airflow3"]

AIRFLOW_VERSION = "3.3.2"
log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def airflow3(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    venv = ensure_airflow_venv(AIRFLOW_VERSION)
    server = AirflowServer(
        venv,
        home=tmp_path_factory.mktemp("airflow3"),
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
        started = time.monotonic()
        server.wait_for_dag("nebraska_demo", timeout=120)
        log.warning(
            "Airflow %s ready in %.1fs, nebraska_demo parsed %.1fs later (log %s)",
            AIRFLOW_VERSION,
            server.ready_after,
            time.monotonic() - started,
            server.log_path,
        )
        yield server
    finally:
        server.stop()
