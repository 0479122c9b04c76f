"""``AirflowEngine``: the ``WorkflowEngine`` port over Airflow's stable REST API."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Collection, Iterator
from typing import Any

from labcas_workflow_api.cache import Cached
from labcas_workflow_api.domain.errors import (
    Conflict,
    InvalidParameters,
    NotFound,
    UpstreamBadResponse,
)
from labcas_workflow_api.domain.models import (
    EngineVersion,
    Run,
    RunStatus,
    TaskInstance,
    Workflow,
    WorkflowVersion,
)
from labcas_workflow_api.engines.airflow import mapping as to
from labcas_workflow_api.engines.airflow.dialects import (
    BATCH_TASK_INSTANCES,
    Params,
    api_path,
)
from labcas_workflow_api.engines.airflow.logs import log_chunks
from labcas_workflow_api.engines.airflow.rest import AirflowRest
from labcas_workflow_api.engines.airflow.transport import (
    UNAPPLIED,
    TokenAuth,
)

#: Seconds Airflow's own version is reused (it changes with an upgrade only).
_VERSION_TTL = 300.0


class AirflowEngine(AirflowRest):
    """``WorkflowEngine`` over the Airflow REST API (``AirflowRest``). Errors as the port's, plus
    ``InvalidParameters`` for a conf the DAG's params refuse."""

    @functools.cached_property
    def _version(self) -> Cached[EngineVersion]:
        return Cached(self._read_version, _VERSION_TTL, name="Airflow version")

    def list_workflows(self) -> list[Workflow]:
        dags = self._items("/dags", "dags", what="DAG list")
        return [to.workflow(dag) for dag in dags]

    def get_workflow(self, workflow_id: str) -> Workflow:
        details = self._get(api_path("dags", workflow_id, "details"), what="DAG")
        return to.workflow(to.mapping(details, "DAG details"), with_params=True)

    def trigger_run(self, workflow_id: str, run_id: str, conf: dict[str, Any]) -> Run:
        body = self.dialect.trigger_body(run_id, conf)
        path = api_path("dags", workflow_id, "dagRuns")
        response = self._request("POST", path, json=body, retry=UNAPPLIED)
        if response.status_code == 409:
            raise Conflict(f"run {run_id!r} of workflow {workflow_id!r} already exists")
        if response.status_code == 400:
            detail = to.error_detail(response)
            if "import error" in detail or "manual runs" in detail:
                raise Conflict(f"workflow {workflow_id!r} cannot be run now: {detail}")
            raise InvalidParameters(f"Airflow refused the run parameters: {detail}")
        return to.run(to.mapping(to.answer(response, "DAG"), "DAG run"))

    def list_user_runs(
        self,
        workflow_ids: Collection[str],
        *,
        username: str,
        run_id_prefix: str,
        status: RunStatus | None = None,
    ) -> list[Run]:
        wanted = set(workflow_ids)
        if not wanted:
            return []  # Airflow 2 lists every DAG's runs for an empty dag_ids
        filters = self.dialect.run_filters(username, run_id_prefix)
        runs: dict[tuple[str, str], Run] = {}  # each once
        for item in self._runs(sorted(wanted), filters, status, across=True):
            run = to.run(item)
            if (
                run.workflow_id in wanted
                and run.run_id.startswith(run_id_prefix)
                and run.conf.get("username") == username
                and status in (None, run.status)
            ):
                runs.setdefault((run.workflow_id, run.run_id), run)
        return list(runs.values())

    def _runs(
        self,
        workflow_ids: list[str],
        filters: Params,
        status: RunStatus | None,
        *,
        across: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """The runs of ``workflow_ids``, newest first, in the engine states of ``status`` when
        given. Airflow 2 cannot filter by run id or conf: its batch listing reads the DAGs' runs
        in large pages (an unknown DAG has none). Airflow 3 lists ``GET dagRuns`` of the one
        DAG, or of every DAG (``~``) ``across`` them, narrowed by ``filters``."""
        dialect = self.dialect
        states = to.engine_states(status)
        if dialect.batch_runs_path is not None:
            body: dict[str, Any] = {"dag_ids": workflow_ids, "order_by": "-id"}
            if states:
                body["states"] = states
            return self._items(dialect.batch_runs_path, "dag_runs", body=body)
        query: Params = {"order_by": "-id", **filters}
        if states:
            query["state"] = states
        if across:
            path, what = api_path("dags", "~", "dagRuns"), "DAG run list"
        else:
            path, what = api_path("dags", workflow_ids[0], "dagRuns"), "DAG"
        return self._items(path, "dag_runs", query=query, what=what)

    def get_run(self, workflow_id: str, run_id: str) -> Run:
        return to.run(self._run_item(workflow_id, run_id))

    def _run_item(self, workflow_id: str, run_id: str) -> dict[str, Any]:
        path = api_path("dags", workflow_id, "dagRuns", run_id)
        if self.dialect.fits(path):
            return to.mapping(self._get(path, what="DAG run"), "DAG run")
        # A transport with short paths (MWAA): find the run in a listing.
        for item in self._runs([workflow_id], {"run_id_prefix_pattern": run_id}, None):
            if item.get("dag_run_id") == run_id:
                return item
        raise NotFound(f"DAG run {run_id!r} of {workflow_id!r} not found in Airflow")

    def list_tasks(self, workflow_id: str, run_id: str) -> list[TaskInstance]:
        dialect = self.dialect
        path = api_path("dags", workflow_id, "dagRuns", run_id, "taskInstances")
        direct = dialect.fits(path)
        if direct:
            items = self._items(path, "task_instances", what="DAG run")
        else:
            body = {"dag_ids": [workflow_id], "dag_run_ids": [run_id]}
            items = self._items(BATCH_TASK_INSTANCES, "task_instances", body=body)
        instances = [to.task_instance(item) for item in items]
        if not instances and (dialect.unknown_run_lists_empty or not direct):
            self.get_run(workflow_id, run_id)  # NotFound for an unknown run
        tasks = self._get(api_path("dags", workflow_id, "tasks"), what="DAG")
        return to.in_dag_order(to.dag_order(tasks), instances)

    def task_log(
        self, workflow_id: str, run_id: str, task_id: str, try_number: int, *, map_index: int = -1
    ) -> Iterator[bytes]:
        dialect = self.dialect
        path = api_path(
            "dags", workflow_id, "dagRuns", run_id, "taskInstances", task_id, "logs", try_number
        )
        params = {"full_content": "true", "map_index": map_index}
        accept = "application/x-ndjson" if dialect.log_format == "ndjson" else "text/plain"
        headers = {"Accept": accept}
        response = self._request(
            "GET", path, params=params, headers=headers, retry=True, stream=True
        )
        if response.status_code != 200:
            try:
                response.read()
            finally:
                response.close()
            to.answer(response, "task log")
            raise UpstreamBadResponse(f"Airflow answered {response.status_code} (task log)")
        return log_chunks(response, dialect.log_format)

    def cancel_run(self, workflow_id: str, run_id: str, *, by: str) -> Run:
        path = api_path("dags", workflow_id, "dagRuns", run_id)
        body = to.mapping(self._get(path, what="DAG run"), "DAG run")
        run = to.run(body)
        cancelled_here = to.cancelled_here(body)
        if cancelled_here and body.get("state") == "failed":
            return run
        if run.status.finished and not cancelled_here:
            raise Conflict(f"run {run_id!r} already finished ({run.status.value})")
        # An active run, or one cancelled here that Airflow then finished otherwise: on SQLite
        # an Airflow 2 scheduler promoting a queued run can overwrite the cancel, then call
        # the run a success because all its tasks were skipped. Cancelling again restores it.
        # Each PATCH sets values, so sending it again is safe.
        for suffix, patch in self.dialect.cancel_bodies(f"{to.CANCEL_NOTE} by {by}"[:1000]):
            sent = self._request("PATCH", path + suffix, json=patch, retry=True)
            answer = to.answer(sent, "DAG run")
        return to.run(to.mapping(answer, "DAG run"))

    def engine_version(self) -> EngineVersion:
        return self._version.get()

    def _read_version(self) -> EngineVersion:
        return to.engine_version(to.mapping(self._get("/version", what="version"), "version"))

    def workflow_version(self, workflow_id: str, run_id: str) -> WorkflowVersion:
        run = self._run_item(workflow_id, run_id)
        dag = to.mapping(self._get(api_path("dags", workflow_id), what="DAG"), "DAG")
        located = dag.get("relative_fileloc") or dag.get("fileloc")
        file_name = posixpath.basename(located) if isinstance(located, str) and located else None
        if not self.dialect.dag_versions:  # Airflow 2: the DAG file as it is now
            token = dag.get("file_token")
            if not isinstance(token, str) or not token:
                raise UpstreamBadResponse("Airflow sent a DAG without a file token")
            source = self._dag_source(token, {})
            return to.workflow_version(
                workflow_id, source, file_name=file_name, source_token=token, of_run=False
            )
        used = to.used_by(run)
        if used is None:  # a run queued before its DAG had a version: the latest
            source = self._dag_source(workflow_id, {})
            return to.workflow_version(workflow_id, source, file_name=file_name, of_run=False)
        number, bundle_name, bundle_version = used
        source = self._dag_source(workflow_id, {"version_number": number})
        return to.workflow_version(
            workflow_id,
            source,
            version=str(number),
            file_name=file_name,
            bundle_name=bundle_name,
            bundle_version=bundle_version or to.text(run.get("bundle_version")),
        )

    def _dag_source(self, key: str, query: Params) -> str | None:
        """The text of a DAG's file (``/dagSources/{key}``), None when Airflow has none."""
        path = api_path("dagSources", key)
        headers = {"Accept": "application/json"}
        response = self._request("GET", path, params=query, headers=headers, retry=True)
        if response.status_code == 404:
            return None
        answer = to.mapping(to.answer(response, "DAG source"), "DAG source")
        return to.text(answer.get("content"))

    def ping(self) -> None:
        to.check_health(self._get(self.dialect.health_path, what="health", auth=False))
        if isinstance(self._auth, TokenAuth):
            self._auth.token()  # the credentials work
