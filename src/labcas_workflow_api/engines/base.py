"""The workflow-engine port: the handful of calls the services need from Airflow."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any, Protocol

from labcas_workflow_api.domain.models import (
    EngineVersion,
    Run,
    RunStatus,
    TaskInstance,
    Workflow,
    WorkflowVersion,
)


class WorkflowEngine(Protocol):
    """A place where workflows are deployed and run. Every method raises ``NotFound`` for an
    unknown workflow or run, and when the engine fails an ``UpstreamError``:
    ``UpstreamUnavailable`` (unreachable), ``UpstreamTimeout`` (too slow) or
    ``UpstreamBadResponse`` (an answer we cannot use)."""

    def list_workflows(self) -> list[Workflow]:
        """Every workflow deployed in the engine (all pages)."""

    def get_workflow(self, workflow_id: str) -> Workflow:
        """One workflow with its parameters."""

    def trigger_run(self, workflow_id: str, run_id: str, conf: dict[str, Any]) -> Run:
        """Start a run with this id and conf; ``Conflict`` if ``run_id`` already exists."""

    def list_user_runs(
        self,
        workflow_ids: Collection[str],
        *,
        username: str,
        run_id_prefix: str,
        status: RunStatus | None = None,
    ) -> list[Run]:
        """The runs of the workflows ``workflow_ids`` started for ``username`` (ids start with
        ``run_id_prefix``), only those in ``status`` when it is given, in one listing across
        workflows where the engine has one. Adapters narrow server-side where the engine can;
        callers still check ``conf`` and ``status``, and order the runs themselves. A workflow
        that is not deployed has no runs here (no ``NotFound``); no workflows, no runs."""

    def get_run(self, workflow_id: str, run_id: str) -> Run:
        """One run."""

    def list_tasks(self, workflow_id: str, run_id: str) -> list[TaskInstance]:
        """The run's task instances in DAG order: upstream tasks first (ties by task id), the
        map indexes of a mapped task in order. Tasks the run has not created yet are listed
        with state ``None`` and try 0. ``NotFound`` for an unknown run."""

    def task_log(
        self, workflow_id: str, run_id: str, task_id: str, try_number: int, *, map_index: int = -1
    ) -> Iterator[bytes]:
        """The text of one try of a task instance's log, as UTF-8 chunks. ``NotFound`` (no such
        task instance or try) and ``UpstreamError`` are raised here, before anything streams; a
        failure mid-stream ends the text with a note. Consume or ``close()`` the iterator."""

    def cancel_run(self, workflow_id: str, run_id: str, *, by: str) -> Run:
        """Stop a queued or running run: the engine stops its running tasks and notes that
        ``by`` cancelled it; it reads ``cancelled`` from then on (in every listing too).
        Idempotent: a run this method already cancelled is returned as it is. ``Conflict``
        when the run had finished otherwise."""

    def engine_version(self) -> EngineVersion:
        """The engine's software: name and version (e.g. ``Apache Airflow``, ``3.3.2``)."""

    def workflow_version(self, workflow_id: str, run_id: str) -> WorkflowVersion:
        """The version of the workflow that the run used, with the workflow's source text and
        its SHA-256 when the engine gives them (``WorkflowVersion`` says how exact that is).
        ``NotFound`` for an unknown workflow or run."""

    def ping(self) -> None:
        """Return when the engine answers; raise an ``UpstreamError`` otherwise."""
