"""Airflow adapter of the ``WorkflowEngine`` port: Airflow 3 (``/api/v2``) and 2 (``/api/v1``)."""

from labcas_workflow_api.engines.airflow.dialects import V1, V2
from labcas_workflow_api.engines.airflow.engine import AirflowEngine
from labcas_workflow_api.engines.airflow.mapping import CANCEL_NOTE
from labcas_workflow_api.engines.airflow.transport import MAX_CONNECTIONS

__all__ = ["CANCEL_NOTE", "MAX_CONNECTIONS", "V1", "V2", "AirflowEngine"]
