"""Cheap DAGs for the security and fault suites: empty tasks the scheduler finishes by itself.

``alpha``, ``beta`` and ``gamma`` take typed params like the demo; ``frozen`` is paused. Empty
tasks are marked done by the scheduler without starting a task process, so runs cost little.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param

PARAMS = {
    "tile_size": Param(64, type="integer", minimum=8, description="Tile edge in pixels"),
    "threshold_method": Param("otsu", type="string", enum=["otsu", "li", "yen"]),
    "note": Param("", type="string", maxLength=200, description="Free text"),
    "ratio": Param(0.5, type="number", description="Any number"),
}

for dag_id, paused in (("alpha", False), ("beta", False), ("gamma", False), ("frozen", True)):
    with DAG(
        dag_id,
        description=f"Cheap test workflow {dag_id}",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        params=PARAMS,
        is_paused_upon_creation=paused,
        tags=["labcas-tests"],
    ) as dag:
        EmptyOperator(task_id="start") >> EmptyOperator(task_id="finish")
    globals()[dag_id] = dag
