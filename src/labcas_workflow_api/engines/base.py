"""The workflow-engine port: the handful of calls the services need from Airflow."""

from __future__ import annotations

from typing import Any, Protocol

from labcas_workflow_api.domain.models import Run, Workflow


class WorkflowEngine(Protocol):
    """A place where workflows are deployed and run.

    Every method raises ``NotFound`` for an unknown workflow or run, and an ``UpstreamError``
    subclass when the engine fails: ``UpstreamUnavailable`` (unreachable),
    ``UpstreamTimeout`` (too slow) or ``UpstreamBadResponse`` (an answer we cannot use).
    """

    def list_workflows(self) -> list[Workflow]:
        """Every workflow deployed in the engine (all pages)."""
        ...

    def get_workflow(self, workflow_id: str) -> Workflow:
        """One workflow with its parameters."""
        ...

    def trigger_run(self, workflow_id: str, run_id: str, conf: dict[str, Any]) -> Run:
        """Start a run with this id and conf; ``Conflict`` if ``run_id`` already exists."""
        ...

    def list_runs(self, workflow_id: str, *, username: str, run_id_prefix: str) -> list[Run]:
        """All runs of the workflow started for ``username`` (ids start with ``run_id_prefix``).

        Adapters narrow server-side where the engine can; callers still check ``conf``.
        """
        ...

    def get_run(self, workflow_id: str, run_id: str) -> Run:
        """One run."""
        ...

    def ping(self) -> None:
        """Return when the engine answers; raise an ``UpstreamError`` otherwise."""
        ...
