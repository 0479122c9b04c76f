"""``AirflowEngine``: the ``WorkflowEngine`` port over Airflow's stable REST API."""

from __future__ import annotations

import functools
import posixpath
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import httpx

from labcas_workflow_api import deadline
from labcas_workflow_api.cache import Cached
from labcas_workflow_api.domain.errors import (
    Conflict,
    InvalidParameters,
    NotFound,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
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
    Dialect,
    Params,
    api_path,
    dialect_for,
)
from labcas_workflow_api.engines.airflow.transport import (
    RETRY,
    UNAPPLIED,
    RetryTransport,
    TokenAuth,
    pooled_transport,
)

#: Batch listings (``POST .../list``) take any page size; Airflow 2 caps GET pages at 100.
BATCH_PAGE_SIZE = 1000
_MAX_PAGES = 10_000
#: Seconds Airflow's own version is reused (it changes with an upgrade only).
_VERSION_TTL = 300.0


class AirflowEngine:
    """``WorkflowEngine`` over the Airflow REST API: ``api_version="v2"`` (Airflow 3, JWT) or
    ``"v1"`` (Airflow 2, basic auth). Reads are retried (``RetryTransport``), a refused token
    renewed once (``TokenAuth``). Errors as the port's, plus ``InvalidParameters`` for a conf
    the DAG's params refuse. ``dialect`` (or a function giving one on first use), ``auth`` and
    ``transport`` replace what ``api_version``, the credentials and plain HTTP give (MWAA)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 10.0,
        api_version: str = "v2",
        retries: int = 2,
        page_size: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        batch_page_size: int = BATCH_PAGE_SIZE,
        dialect: Dialect | Callable[[], Dialect] | None = None,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._dialect = dialect or dialect_for(api_version)
        retrying = RetryTransport(transport or pooled_transport(), retries=retries, sleep=sleep)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), transport=retrying
        )
        self._page_size = page_size
        self._batch_page_size = batch_page_size
        if auth is None:
            if isinstance(self._dialect, Dialect) and self._dialect.credentials == "basic":
                auth = httpx.BasicAuth(username, password)
            else:
                credentials = {"username": username, "password": password}
                auth = TokenAuth(
                    lambda: self._request(
                        "POST", "/auth/token", api=False, auth=False, json=credentials, retry=True
                    )
                )
        self._auth = auth
        self._version = Cached(self._read_version, _VERSION_TTL, name="Airflow version")

    @functools.cached_property
    def dialect(self) -> Dialect:
        """The REST API dialect (asked on first use when it was given as a function)."""
        return self._dialect() if callable(self._dialect) else self._dialect

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
        return to.log_chunks(response, dialect.log_format)

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

    def _items(
        self,
        path: str,
        key: str,
        *,
        query: Params | None = None,
        body: dict[str, Any] | None = None,
        what: str = "list",
    ) -> Iterator[dict[str, Any]]:
        """Every item of a listing, page by page: ``GET path`` with ``limit`` and ``offset``, or,
        given a ``body``, ``POST path`` with ``page_limit`` and ``page_offset`` in it."""
        offset = 0
        for _ in range(_MAX_PAGES):
            if body is None:
                page: Params = {**(query or {}), "limit": self._page_size, "offset": offset}
                response = self._request("GET", path, params=page, retry=True)
            else:
                batch = {**body, "page_offset": offset, "page_limit": self._batch_page_size}
                response = self._request("POST", path, json=batch, retry=True)
            listing = to.mapping(to.answer(response, what), "list")
            items = listing.get(key)
            if not isinstance(items, list):
                raise UpstreamBadResponse(f"Airflow list answer has no {key!r} list")
            for item in items:
                yield to.mapping(item, key)
            offset += len(items)
            total = listing.get("total_entries")
            if not items or not isinstance(total, int) or offset >= total:
                return
        raise UpstreamBadResponse(f"Airflow listing of {path} does not end")

    def _get(self, path: str, *, what: str, auth: bool = True) -> Any:
        return to.answer(self._request("GET", path, retry=True, auth=auth), what)

    def _request(
        self,
        method: str,
        path: str,
        *,
        api: bool = True,
        auth: bool = True,
        retry: bool | str = False,
        stream: bool = False,
        **options: Any,
    ) -> httpx.Response:
        """``method`` on ``path`` of the REST API (of the server unless ``api``); ``retry``: the
        ``RetryTransport`` may send it again (``UNAPPLIED``: only when Airflow did not apply
        it); ``stream``: the caller reads and closes it."""
        url = f"{self.base_url}{self.dialect.prefix if api else ''}{path}"
        request = self._http.build_request(method, url, extensions={RETRY: retry}, **options)
        try:
            return self._http.send(request, auth=self._auth if auth else None, stream=stream)
        except httpx.TransportError as exc:
            if deadline.expired():
                raise deadline.exceeded(f"Airflow: {method} {request.url.path}") from exc
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                raise UpstreamUnavailable(
                    f"cannot reach Airflow at {self.base_url}: {exc}"
                ) from exc
            if isinstance(exc, httpx.TimeoutException):
                raise UpstreamTimeout(f"Airflow did not answer in time ({method} {url})") from exc
            raise UpstreamUnavailable(f"connection to Airflow failed: {exc}") from exc
