"""Airflow adapter of the ``WorkflowEngine`` port, over Airflow's stable REST API.

Airflow 3 (``/api/v2``, a token from ``POST /auth/token``) and Airflow 2 (``/api/v1``, basic
auth), one module per concern:

- ``engine``: ``AirflowEngine``, the port's methods;
- ``dialects``: what ``/api/v1`` and ``/api/v2`` call things (paths, list keys, filters);
- ``auth``: Airflow 3's token, renewed once when Airflow refuses it (an ``httpx.Auth``);
- ``transport``: retries of reads and the per-process connection limit (an httpx transport);
- ``mapping``: Airflow's answers as our models, its failures as our errors;
- ``logs``: task logs as text;
- ``versions``: the DAG version a run used.

The MWAA engines (``engines.mwaa``) are this engine over transports that go through AWS.
"""

from labcas_workflow_api.engines.airflow.dialects import V1, V2, Dialect, dialect_for
from labcas_workflow_api.engines.airflow.engine import BATCH_PAGE_SIZE, AirflowEngine
from labcas_workflow_api.engines.airflow.mapping import CANCEL_NOTE
from labcas_workflow_api.engines.airflow.transport import MAX_CONNECTIONS

__all__ = [
    "BATCH_PAGE_SIZE",
    "CANCEL_NOTE",
    "MAX_CONNECTIONS",
    "V1",
    "V2",
    "AirflowEngine",
    "Dialect",
    "dialect_for",
]
