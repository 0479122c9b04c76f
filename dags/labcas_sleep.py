"""A tiny workflow that waits: for trying out run control (progress, logs, cancel).

Three tasks in a row: ``begin`` logs the conf, ``wait`` sleeps ``seconds`` (a param, logging
every second), ``end`` logs that it is done. Runs on Airflow 3 (task SDK) and on Airflow 2.10.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

try:
    from airflow.sdk import Param, dag, get_current_context, task
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag, task
    from airflow.models.param import Param
    from airflow.operators.python import get_current_context

log = logging.getLogger(__name__)


@dag(
    dag_id="labcas_sleep",
    description="Waits a given number of seconds (for trying out run control)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["labcas", "test"],
    params={
        "seconds": Param(
            30,
            type="integer",
            minimum=0,
            maximum=3600,
            description="How long the wait task sleeps, in seconds",
        ),
    },
)
def labcas_sleep() -> None:
    @task
    def begin() -> None:
        conf: dict[str, Any] = dict(get_current_context()["dag_run"].conf or {})
        log.info("run started for %s with conf keys %s", conf.get("username"), sorted(conf))

    @task
    def wait() -> int:
        seconds = int(get_current_context()["params"]["seconds"])
        for elapsed in range(seconds):
            log.info("waited %d of %d seconds", elapsed, seconds)
            time.sleep(1)
        log.info("waited %d seconds", seconds)
        return seconds

    @task
    def end(seconds: int) -> None:
        log.info("done after %d seconds", seconds)

    waited = wait()
    begin() >> waited
    end(waited)


labcas_sleep()
