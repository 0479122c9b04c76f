"""What Airflow says of its own version, as an ``EngineVersion``, and of the version of a DAG
that a run used, as a ``WorkflowVersion``."""

from __future__ import annotations

import hashlib
from typing import Any

from labcas_workflow_api.domain.errors import UpstreamBadResponse
from labcas_workflow_api.domain.models import EngineVersion, WorkflowVersion

#: Seconds Airflow's own version is reused (it changes with an upgrade only).
TTL = 300.0
#: What Airflow 3 shows instead of a DAG file that the caller may not read in whole.
_REDACTED = "REDACTED - "


def engine_version(answer: dict[str, Any]) -> EngineVersion:
    """Airflow's ``/version`` answer as an ``EngineVersion``."""
    version = answer.get("version")
    if not isinstance(version, str) or not version:
        raise UpstreamBadResponse("Airflow sent a version answer without a version")
    return EngineVersion("Apache Airflow", version, "https://airflow.apache.org/")


def text(value: Any) -> str | None:
    """A non-empty string of an answer, else None."""
    return value if isinstance(value, str) and value else None


def used_by(run: dict[str, Any]) -> tuple[int, str | None, str | None] | None:
    """The DAG version an Airflow 3 run used (the latest one it names): its number, bundle name
    and bundle version; None when the run names none."""
    versions = run.get("dag_versions")
    found = [
        v
        for v in (versions if isinstance(versions, list) else [])
        if isinstance(v, dict) and isinstance(v.get("version_number"), int)
    ]
    if not found:
        return None
    used = max(found, key=lambda v: v["version_number"])
    return used["version_number"], text(used.get("bundle_name")), text(used.get("bundle_version"))


def workflow_version(workflow_id: str, source: str | None, **facts: Any) -> WorkflowVersion:
    """A ``WorkflowVersion`` with ``source`` and its SHA-256 (neither for a redacted source)."""
    if source is not None and source.startswith(_REDACTED):
        source = None
    digest = hashlib.sha256(source.encode()).hexdigest() if source is not None else None
    return WorkflowVersion(workflow_id, source=source, source_sha256=digest, **facts)
