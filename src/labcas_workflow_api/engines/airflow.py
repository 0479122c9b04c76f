"""Airflow adapter of the ``WorkflowEngine`` port, over Airflow's stable REST API.

Airflow 3 (``/api/v2``, JWT from ``POST /auth/token``) and Airflow 2 (``/api/v1``, basic auth).
What differs between them is kept in two small places: the ``Auth`` strategy (how a request is
authenticated) and the ``Dialect`` (paths, list keys, run filters, trigger body, how runs are
listed). The HTTP transport is the third seam: the MWAA adapters (``mwaa.py``) reuse this engine
over a transport that goes through AWS instead of straight to the web server.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from labcas_workflow_api.cache import Cached
from labcas_workflow_api.domain.errors import (
    ConfigError,
    Conflict,
    InvalidParameters,
    NotFound,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.domain.models import Parameter, Run, RunStatus, TaskInstance, Workflow

log = logging.getLogger(__name__)

STATES = {
    None: RunStatus.QUEUED,
    "": RunStatus.QUEUED,
    "queued": RunStatus.QUEUED,
    "running": RunStatus.RUNNING,
    "success": RunStatus.SUCCESS,
    "failed": RunStatus.FAILED,
}
RETRY_STATUSES = frozenset({502, 503, 504})
# Usernames whose JSON form is the same in every database's text rendering of a JSON column.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._@-]+")
_MAX_PAGES = 10_000
#: Batch listings (``POST .../list``) take any page size; Airflow 2 caps GET pages at 100.
BATCH_PAGE_SIZE = 1000
#: Requests one process has open on Airflow at most; more wait for a connection (within the
#: timeout). Airflow's API server answers from a small database pool (5 + 10 by default), so
#: letting every request through at once only moves the queue there, where it times out.
MAX_CONNECTIONS = 10
BATCH_TASK_INSTANCES = "/dags/~/dagRuns/~/taskInstances/list"
#: The note a cancelled run carries; a finished run with it is one we cancelled (idempotency).
CANCEL_NOTE = "Cancelled through the LabCAS Workflow API"

Params = dict[str, str | int | list[str]]


def _quote(segment: str) -> str:
    return quote(segment, safe="")


class Auth(Protocol):
    """How requests to Airflow are authenticated (JWT for ``/api/v2``, basic for ``/api/v1``)."""

    def headers(self) -> dict[str, str]:
        """Headers to add to the next request (may log in first)."""
        ...

    def invalidate(self) -> None:
        """Forget cached credentials after a 401 so ``headers`` renews them."""
        ...


class BasicAuth:
    """Airflow 2 basic auth (``[api] auth_backends`` with the FAB ``basic_auth`` backend)."""

    def __init__(self, username: str, password: str) -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def invalidate(self) -> None:
        """Nothing cached to renew: a second 401 is reported as refused credentials."""


class NoAuth:
    """No credentials in the request: the transport authenticates it (MWAA)."""

    def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self) -> None:
        return None


class JwtAuth:
    """Airflow 3 tokens from ``POST {base}/auth/token``, cached until shortly before ``exp``."""

    fallback_ttl = 300.0

    def __init__(
        self,
        login: Callable[[], httpx.Response],
        *,
        leeway: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._login = login
        self._leeway = leeway
        self._clock = clock
        self._token = Cached(
            self._fetch, self._lifetime, serve_stale=False, name="Airflow token", clock=clock
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token.get()}"}

    def invalidate(self) -> None:
        self._token.invalidate()

    def _lifetime(self, token: str) -> float:
        return self._expiry(token) - self._leeway - self._clock()

    def _fetch(self) -> str:
        response = self._login()
        if response.status_code in (401, 403):
            raise UpstreamBadResponse(
                "Airflow refused the engine credentials "
                "(LABCAS_ENGINE_USERNAME / LABCAS_ENGINE_PASSWORD)"
            )
        body = _answer(response, "token")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise UpstreamBadResponse("Airflow token answer has no access_token")
        return token

    def _expiry(self, token: str) -> float:
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            return float(claims["exp"])
        except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
            return self._clock() + self.fallback_ttl + self._leeway


@dataclass(frozen=True)
class Dialect:
    """What one Airflow REST API version calls things."""

    prefix: str
    health_path: str
    #: How the engine's credentials are sent: ``jwt`` (``POST /auth/token``) or ``basic``.
    credentials: str = "jwt"
    dags_key: str = "dags"
    runs_key: str = "dag_runs"
    server_side_run_filters: bool = False
    trigger_needs_logical_date: bool = False
    tasks_key: str = "tasks"
    task_instances_key: str = "task_instances"
    #: ``ndjson``: Airflow 3's structured log records, one JSON object a line; ``text``: plain.
    log_format: str = "text"
    #: Whether ``PATCH dagRun`` takes a ``note`` with the ``state`` (else ``.../setNote``).
    note_in_patch: bool = False
    #: Where runs are listed with the DAG id, state filter and paging in a JSON body
    #: (Airflow 2's ``POST /dags/~/dagRuns/list``, uncapped page size); else ``GET dagRuns``.
    batch_runs_path: str | None = None
    #: Whether the task instances of an unknown run are an empty list (Airflow 2), not a 404.
    unknown_run_lists_empty: bool = False
    #: The longest path the transport accepts (MWAA's ``InvokeRestApi`` takes 64 characters);
    #: reads with longer paths go through listings with the ids in the query or body.
    max_path: int | None = None

    def fits(self, path: str) -> bool:
        return self.max_path is None or len(path) <= self.max_path

    def dag_path(self, dag_id: str) -> str:
        return f"/dags/{_quote(dag_id)}"

    def runs_path(self, dag_id: str) -> str:
        return f"/dags/{_quote(dag_id)}/dagRuns"

    def run_path(self, dag_id: str, run_id: str) -> str:
        return f"/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}"

    def tasks_path(self, dag_id: str) -> str:
        return f"/dags/{_quote(dag_id)}/tasks"

    def task_instances_path(self, dag_id: str, run_id: str) -> str:
        return self.run_path(dag_id, run_id) + "/taskInstances"

    def log_path(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        return self.task_instances_path(dag_id, run_id) + f"/{_quote(task_id)}/logs/{try_number}"

    def log_request(self, map_index: int) -> tuple[Params, dict[str, str]]:
        """Query parameters and headers asking for a whole log as ``log_format``."""
        accept = "application/x-ndjson" if self.log_format == "ndjson" else "text/plain"
        return {"full_content": "true", "map_index": map_index}, {"Accept": accept}

    def cancel_bodies(self, note: str) -> list[tuple[str, dict[str, Any]]]:
        """``(path suffix, body)`` of the PATCHes that mark a run failed with ``note``."""
        if self.note_in_patch:
            return [("", {"state": "failed", "note": note})]
        return [("/setNote", {"note": note}), ("", {"state": "failed"})]

    def trigger_body(self, run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"dag_run_id": run_id, "conf": conf}
        if self.trigger_needs_logical_date:
            body["logical_date"] = None
        return body

    def run_filters(self, username: str, run_id_prefix: str) -> Params:
        """Query parameters narrowing a run listing to (a superset of) one user's runs.

        ``run_id_prefix_pattern`` treats ``|`` as OR and ``~`` as "everything", and drops
        trailing non-alphanumerics: it is given the prefix up to any ``|``, which only widens
        the match. ``conf_contains`` is a SQL ``LIKE`` on the conf's JSON text where ``_`` and
        ``%`` are wildcards, which also only widens it. Callers filter exactly afterwards.
        """
        if not self.server_side_run_filters:
            return {}
        params: Params = {}
        prefix = run_id_prefix.split("|", 1)[0]
        if prefix.strip() and prefix != "~":
            params["run_id_prefix_pattern"] = prefix
        if _PLAIN_NAME.fullmatch(username):
            params["conf_contains"] = json.dumps(username)
        return params


V2 = Dialect(
    prefix="/api/v2",
    health_path="/monitor/health",
    server_side_run_filters=True,
    trigger_needs_logical_date=True,
    log_format="ndjson",
    note_in_patch=True,
)
V1 = Dialect(
    prefix="/api/v1",
    health_path="/health",
    credentials="basic",
    batch_runs_path="/dags/~/dagRuns/list",
    unknown_run_lists_empty=True,
)
DIALECTS = {"v1": V1, "v2": V2}


def dialect_for(api_version: str) -> Dialect:
    """The dialect of ``v1`` (Airflow 2) or ``v2`` (Airflow 3); ``ConfigError`` otherwise."""
    try:
        return DIALECTS[api_version]
    except KeyError:
        raise ConfigError(
            f"Airflow API version {api_version!r} is not supported (use v1 or v2)"
        ) from None


class AirflowEngine:
    """``WorkflowEngine`` over the Airflow REST API: ``api_version="v2"`` (Airflow 3, JWT) or
    ``"v1"`` (Airflow 2, basic auth).

    One pooled ``httpx.Client`` (built here unless ``http`` is given) with connect and read
    timeouts; GETs are retried ``retries`` times on connection errors and 502/503/504. A 401
    renews the token and retries once. Errors: ``NotFound`` (404), ``Conflict`` (409 on
    trigger), ``InvalidParameters`` (conf refused by the DAG's params), and
    ``UpstreamUnavailable`` / ``UpstreamTimeout`` / ``UpstreamBadResponse`` otherwise.

    ``dialect`` (a ``Dialect``, or a function giving one on first use) and ``auth`` replace
    what ``api_version`` and the credentials choose, and ``transport`` carries the requests of
    the client built here: the MWAA adapters learn the API version from AWS and send requests
    through a transport that authenticates them.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 10.0,
        api_version: str = "v2",
        http: httpx.Client | None = None,
        retries: int = 2,
        backoff: float = 0.2,
        page_size: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        batch_page_size: int = BATCH_PAGE_SIZE,
        dialect: Dialect | Callable[[], Dialect] | None = None,
        auth: Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if dialect is None:
            dialect = dialect_for(api_version)
        self._chosen: Dialect | None = dialect if isinstance(dialect, Dialect) else None
        self._choose = dialect if callable(dialect) else None
        self._choosing = threading.Lock()
        self._own_http = http is None
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
            ),
            transport=transport,
        )
        self._retries = max(0, retries)
        self._backoff = backoff
        self._page_size = page_size
        self._batch_page_size = batch_page_size
        self._sleep = sleep
        if auth is None and self._chosen is not None and self._chosen.credentials == "basic":
            auth = BasicAuth(username, password)
        credentials = {"username": username, "password": password}
        self._auth: Auth = auth or JwtAuth(
            lambda: self._send("POST", f"{self.base_url}/auth/token", json=credentials)
        )

    @property
    def _dialect(self) -> Dialect:
        if self._chosen is None:
            with self._choosing:
                if self._chosen is None and self._choose is not None:
                    self._chosen = self._choose()
        assert self._chosen is not None
        return self._chosen

    @_dialect.setter
    def _dialect(self, dialect: Dialect) -> None:
        self._chosen = dialect

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> AirflowEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the port -------------------------------------------------------------------------

    def list_workflows(self) -> list[Workflow]:
        dags = self._pages("/dags", self._dialect.dags_key, {}, what="DAG list")
        return [_workflow(dag) for dag in dags]

    def get_workflow(self, workflow_id: str) -> Workflow:
        details = self._get(self._dialect.dag_path(workflow_id) + "/details", what="DAG")
        return _workflow(_mapping(details, "DAG details"), with_params=True)

    def trigger_run(self, workflow_id: str, run_id: str, conf: dict[str, Any]) -> Run:
        response = self._call(
            "POST",
            self._dialect.runs_path(workflow_id),
            json=self._dialect.trigger_body(run_id, conf),
        )
        if response.status_code == 409:
            raise Conflict(f"run {run_id!r} of workflow {workflow_id!r} already exists")
        if response.status_code == 400:
            detail = _detail(response)
            if "import error" in detail or "manual runs" in detail:
                raise Conflict(f"workflow {workflow_id!r} cannot be run now: {detail}")
            raise InvalidParameters(f"Airflow refused the run parameters: {detail}")
        return _run(_mapping(_answer(response, "DAG"), "DAG run"))

    def list_runs(
        self,
        workflow_id: str,
        *,
        username: str,
        run_id_prefix: str,
        status: RunStatus | None = None,
    ) -> list[Run]:
        runs: dict[str, Run] = {}
        for item in self._run_items(workflow_id, username, run_id_prefix, status):
            run = _run(item)
            if (
                run.run_id.startswith(run_id_prefix)
                and run.conf.get("username") == username
                and status in (None, run.status)
            ):
                runs.setdefault(run.run_id, run)
        return list(runs.values())

    def _run_items(
        self, workflow_id: str, username: str, run_id_prefix: str, status: RunStatus | None
    ) -> Iterator[dict[str, Any]]:
        """The DAG's runs, newest first, narrowed server-side as far as the dialect can."""
        dialect = self._dialect
        if dialect.batch_runs_path is not None:
            # Airflow 2 cannot filter by run id or conf: read the DAG's runs in large pages.
            body: dict[str, Any] = {"dag_ids": [workflow_id], "order_by": "-id"}
            if status is not None:
                body["states"] = [status.value]
            empty = True
            for item in self._batch_pages(dialect.batch_runs_path, dialect.runs_key, body):
                empty = False
                yield item
            if empty:
                self._dag_exists(workflow_id)
            return
        params: Params = {"order_by": "-id", **dialect.run_filters(username, run_id_prefix)}
        if status is not None:
            params["state"] = status.value
        yield from self._pages(dialect.runs_path(workflow_id), dialect.runs_key, params, what="DAG")

    def _dag_exists(self, workflow_id: str) -> None:
        """``NotFound`` for an unknown DAG (batch listings answer it with an empty list)."""
        self._get(self._dialect.dag_path(workflow_id), what="DAG")

    def get_run(self, workflow_id: str, run_id: str) -> Run:
        path = self._dialect.run_path(workflow_id, run_id)
        if not self._dialect.fits(path):
            return self._find_run(workflow_id, run_id)
        body = self._get(path, what="DAG run")
        return _run(_mapping(body, "DAG run"))

    def _find_run(self, workflow_id: str, run_id: str) -> Run:
        """One run looked up through a listing, for transports with short paths (MWAA)."""
        dialect = self._dialect
        items: Iterator[dict[str, Any]]
        if dialect.batch_runs_path is not None:
            body = {"dag_ids": [workflow_id], "order_by": "-id"}
            items = self._batch_pages(dialect.batch_runs_path, dialect.runs_key, body)
        else:
            params: Params = {"run_id_prefix_pattern": run_id}
            path = dialect.runs_path(workflow_id)
            items = self._pages(path, dialect.runs_key, params, what="DAG")
        for item in items:
            if item.get("dag_run_id") == run_id:
                return _run(item)
        raise NotFound(f"DAG run {run_id!r} of {workflow_id!r} not found in Airflow")

    def list_tasks(self, workflow_id: str, run_id: str) -> list[TaskInstance]:
        dialect = self._dialect
        path = dialect.task_instances_path(workflow_id, run_id)
        items: Iterator[dict[str, Any]]
        direct = dialect.fits(path)
        if direct:
            items = self._pages(path, dialect.task_instances_key, {}, what="DAG run")
        else:
            body = {"dag_ids": [workflow_id], "dag_run_ids": [run_id]}
            items = self._batch_pages(BATCH_TASK_INSTANCES, dialect.task_instances_key, body)
        instances = [_task_instance(item) for item in items]
        if not instances and (dialect.unknown_run_lists_empty or not direct):
            self.get_run(workflow_id, run_id)  # NotFound for an unknown run
        body = _mapping(self._get(dialect.tasks_path(workflow_id), what="DAG"), "task list")
        tasks = body.get(dialect.tasks_key)
        if not isinstance(tasks, list):
            raise UpstreamBadResponse(f"Airflow task list has no {dialect.tasks_key!r} list")
        return _in_dag_order(_dag_order([_mapping(t, "task") for t in tasks]), instances)

    def task_log(
        self, workflow_id: str, run_id: str, task_id: str, try_number: int, *, map_index: int = -1
    ) -> Iterator[bytes]:
        dialect = self._dialect
        params, headers = dialect.log_request(map_index)
        path = dialect.log_path(workflow_id, run_id, task_id, try_number)
        response = self._call("GET", path, params=params, headers=headers, retry=True, stream=True)
        if response.status_code != 200:
            try:
                response.read()
            finally:
                response.close()
            _answer(response, "task log")
            raise UpstreamBadResponse(f"Airflow answered {response.status_code} (task log)")
        return self._log_chunks(response)

    def cancel_run(self, workflow_id: str, run_id: str, *, by: str) -> Run:
        path = self._dialect.run_path(workflow_id, run_id)
        body = _mapping(self._get(path, what="DAG run"), "DAG run")
        run = _run(body)
        cancelled_here = _cancelled_here(body)
        if cancelled_here and body.get("state") == "failed":
            return run
        if run.status.finished and not cancelled_here:
            raise Conflict(f"run {run_id!r} already finished ({run.status.value})")
        # An active run, or one cancelled here that Airflow then finished otherwise: on SQLite
        # an Airflow 2 scheduler promoting a queued run can overwrite the cancel, then call
        # the run a success because all its tasks were skipped. Cancelling again restores it.
        for suffix, patch in self._dialect.cancel_bodies(f"{CANCEL_NOTE} by {by}"[:1000]):
            answer = _answer(self._call("PATCH", path + suffix, json=patch), "DAG run")
        return _run(_mapping(answer, "DAG run"))

    def ping(self) -> None:
        health = _mapping(self._get(self._dialect.health_path, auth=False), "health")
        for component in ("metadatabase", "scheduler"):
            status = health.get(component)
            if not isinstance(status, Mapping) or status.get("status") != "healthy":
                raise UpstreamUnavailable(f"Airflow {component} is not healthy")
        self._auth.headers()

    # -- HTTP -----------------------------------------------------------------------------

    def _log_chunks(self, response: httpx.Response) -> Iterator[bytes]:
        """The log text of a streamed answer, converted from ``log_format``; closes it."""
        try:
            if self._dialect.log_format == "ndjson":
                for line in response.iter_lines():
                    if line.strip():
                        yield _log_line(line).encode()
            else:
                yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            log.warning("task log stream from Airflow broke off: %s", exc)
            yield f"\n[LabCAS: the log stream from Airflow broke off: {exc}]\n".encode()
        finally:
            response.close()

    def _batch_pages(self, path: str, key: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The items of a ``POST .../list`` batch listing, page by page (``page_offset``)."""
        offset = 0
        for _ in range(_MAX_PAGES):
            page = {**body, "page_offset": offset, "page_limit": self._batch_page_size}
            response = self._call("POST", path, json=page, retry=True)
            answer = _mapping(_answer(response, "list"), "list")
            items = answer.get(key)
            if not isinstance(items, list):
                raise UpstreamBadResponse(f"Airflow list answer has no {key!r} list")
            for item in items:
                yield _mapping(item, key)
            offset += len(items)
            total = answer.get("total_entries")
            if not items or not isinstance(total, int) or offset >= total:
                return
        raise UpstreamBadResponse(f"Airflow listing of {path} does not end")

    def _pages(self, path: str, key: str, params: Params, *, what: str) -> Iterator[dict[str, Any]]:
        offset = 0
        for _ in range(_MAX_PAGES):
            query: Params = {**params, "limit": self._page_size, "offset": offset}
            body = _mapping(self._get(path, params=query, what=what), "list")
            items = body.get(key)
            if not isinstance(items, list):
                raise UpstreamBadResponse(f"Airflow list answer has no {key!r} list")
            for item in items:
                yield _mapping(item, key)
            offset += len(items)
            total = body.get("total_entries")
            if not items or not isinstance(total, int) or offset >= total:
                return
        raise UpstreamBadResponse(f"Airflow listing of {path} does not end")

    def _get(
        self, path: str, *, params: Params | None = None, what: str = "", auth: bool = True
    ) -> Any:
        response = self._call("GET", path, params=params, retry=True, auth=auth)
        return _answer(response, what or "resource")

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        retry: bool = False,
        auth: bool = True,
        stream: bool = False,
    ) -> httpx.Response:
        """Send with auth; renew the token once on a 401."""
        url = f"{self.base_url}{self._dialect.prefix}{path}"
        renewed = False
        while True:
            sent = {**(headers or {}), **(self._auth.headers() if auth else {})}
            response = self._send(
                method, url, params=params, json=json, headers=sent, retry=retry, stream=stream
            )
            if response.status_code == 401 and auth and not renewed:
                log.info("Airflow answered 401; renewing the token")
                response.close()
                self._auth.invalidate()
                renewed = True
                continue
            return response

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        retry: bool = True,
        stream: bool = False,
    ) -> httpx.Response:
        """One request, retried (if ``retry``) on connection errors and 502/503/504. With
        ``stream``, the body is left unread (the caller closes the response)."""
        attempts = 1 + (self._retries if retry else 0)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                request = self._http.build_request(
                    method, url, params=params, json=json, headers=headers
                )
                response = self._http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if last:
                    raise UpstreamUnavailable(
                        f"cannot reach Airflow at {self.base_url}: {exc}"
                    ) from exc
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(f"Airflow did not answer in time ({method} {url})") from exc
            except httpx.TransportError as exc:
                if last:
                    raise UpstreamUnavailable(f"connection to Airflow failed: {exc}") from exc
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return response
                response.close()
            log.info("retrying %s %s (attempt %d of %d)", method, url, attempt + 1, attempts)
            self._sleep(self._backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")


# -- mapping Airflow answers to our models ----------------------------------------------------


def _answer(response: httpx.Response, what: str) -> Any:
    """The JSON body of a 2xx answer; our error for anything else."""
    status = response.status_code
    if 200 <= status < 300:
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamBadResponse(f"Airflow sent an unreadable {what} answer") from exc
    if status == 404:
        raise NotFound(f"{what} not found in Airflow: {_detail(response)}")
    if status == 503:
        raise UpstreamUnavailable(f"Airflow is unavailable (503): {_detail(response)}")
    if status == 504:
        raise UpstreamTimeout(f"Airflow timed out (504): {_detail(response)}")
    raise UpstreamBadResponse(f"Airflow answered {status} ({what}): {_detail(response)}")


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if detail is None:
        return response.text[:300] or response.reason_phrase
    return detail if isinstance(detail, str) else json.dumps(detail)[:300]


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UpstreamBadResponse(f"Airflow sent a malformed {what}")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise UpstreamBadResponse(f"Airflow sent a {what} without a valid id")
    return value


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise UpstreamBadResponse(f"Airflow sent an unreadable time {value!r}") from exc


def _parameter(spec: Any) -> Parameter:
    """A param as Airflow 3 dumps it (``{"value", "schema", "description", "source"}``), as
    Airflow 2 does (``{"__class", "value", "schema", "description"}``), or a bare value."""
    if isinstance(spec, dict) and ({"value", "schema"} & spec.keys() or "__class" in spec):
        schema = spec.get("schema")
        description = spec.get("description")
        return Parameter(
            default=spec.get("value"),
            description=description if isinstance(description, str) else None,
            schema=dict(schema) if isinstance(schema, dict) else {},
        )
    return Parameter(default=spec)


def _workflow(dag: dict[str, Any], *, with_params: bool = False) -> Workflow:
    params = dag.get("params") if with_params else None
    if params is not None and not isinstance(params, dict):
        raise UpstreamBadResponse("Airflow sent malformed DAG params")
    description = dag.get("description")
    schedule = dag.get("timetable_summary")  # Airflow 3; Airflow 2 has schedule_interval
    interval = dag.get("schedule_interval")
    if schedule is None and isinstance(interval, dict):
        schedule = interval.get("value")
    return Workflow(
        id=_text(dag.get("dag_id"), "DAG"),
        description=description if isinstance(description, str) else None,
        parameters={name: _parameter(spec) for name, spec in (params or {}).items()},
        schedule=schedule if isinstance(schedule, str) else None,
        paused=bool(dag.get("is_paused")),
    )


def _run(item: dict[str, Any]) -> Run:
    state = item.get("state")
    if state not in STATES:
        raise UpstreamBadResponse(f"Airflow sent an unknown run state {state!r}")
    conf = item.get("conf")
    return Run(
        run_id=_text(item.get("dag_run_id"), "DAG run"),
        workflow_id=_text(item.get("dag_id"), "DAG run"),
        # A run cancelled here never succeeded, whatever a racing scheduler concluded.
        status=RunStatus.FAILED if state == "success" and _cancelled_here(item) else STATES[state],
        start_time=_time(item.get("start_date")),
        end_time=_time(item.get("end_date")),
        conf=dict(conf) if isinstance(conf, dict) else {},
        queued_at=_time(item.get("queued_at")),
    )


def _cancelled_here(item: dict[str, Any]) -> bool:
    note = item.get("note")
    return isinstance(note, str) and note.startswith(CANCEL_NOTE)


def _task_instance(item: dict[str, Any]) -> TaskInstance:
    state = item.get("state")
    if state is not None and not isinstance(state, str):
        raise UpstreamBadResponse(f"Airflow sent an unreadable task state {state!r}")
    duration = item.get("duration")
    try_number = item.get("try_number")
    map_index = item.get("map_index")
    return TaskInstance(
        task_id=_text(item.get("task_id"), "task instance"),
        state=state or None,
        start_time=_time(item.get("start_date")),
        end_time=_time(item.get("end_date")),
        duration=float(duration) if isinstance(duration, int | float) else None,
        try_number=try_number if isinstance(try_number, int) else 0,
        map_index=map_index if isinstance(map_index, int) else -1,
    )


def _dag_order(tasks: list[dict[str, Any]]) -> list[str]:
    """Task ids in topological order (upstream first), ties broken by task id."""
    ids = sorted(_text(t.get("task_id"), "task") for t in tasks)
    downstream: dict[str, list[str]] = {}
    upstream_count = dict.fromkeys(ids, 0)
    for task in tasks:
        targets = task.get("downstream_task_ids")
        following = [t for t in targets if t in upstream_count] if isinstance(targets, list) else []
        downstream[task["task_id"]] = following
        for target in following:
            upstream_count[target] += 1
    ready = [task_id for task_id in ids if upstream_count[task_id] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        task_id = heapq.heappop(ready)
        order.append(task_id)
        for target in downstream.get(task_id, []):
            upstream_count[target] -= 1
            if upstream_count[target] == 0:
                heapq.heappush(ready, target)
    placed = set(order)
    return order + [task_id for task_id in ids if task_id not in placed]  # a cycle: by id


def _in_dag_order(order: list[str], instances: list[TaskInstance]) -> list[TaskInstance]:
    """The instances sorted by ``order`` (unknown tasks last), plus a placeholder for each task
    of the DAG that has no instance yet."""
    rank = {task_id: i for i, task_id in enumerate(order)}
    present = {ti.task_id for ti in instances}
    waiting = [TaskInstance(task_id) for task_id in order if task_id not in present]
    return sorted(
        instances + waiting,
        key=lambda ti: (rank.get(ti.task_id, len(rank)), ti.task_id, ti.map_index),
    )


# Keys of a structured record shown in the line's head, or repeated on every line (context).
_LOG_HEAD = frozenset({"timestamp", "event", "level", "logger", "filename", "lineno"})
_LOG_CONTEXT = frozenset({"dag_id", "run_id", "task_id", "try_number", "map_index", "ti_id"})
_LOG_SKIPPED = _LOG_HEAD | _LOG_CONTEXT | {"error_detail", "sources"}


def _log_line(line: str) -> str:
    """One Airflow 3 structured log record as a line in Airflow's classic text format,
    ``[time] {file.py:12} INFO - event key=value``, followed by a traceback for an error."""
    try:
        record = json.loads(line)
    except ValueError:
        return line + "\n"
    if not isinstance(record, dict):
        return line + "\n"
    head = []
    if record.get("timestamp"):
        head.append(f"[{record['timestamp']}]")
    if record.get("filename"):
        where = f"{record['filename']}:{record['lineno']}" if record.get("lineno") else ""
        head.append("{" + (where or str(record["filename"])) + "}")
    if record.get("level"):
        head.append(str(record["level"]).upper())
    event = str(record.get("event", ""))
    extras = [
        f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}"
        for k, v in record.items()
        if k not in _LOG_SKIPPED
    ]
    text = " ".join([f"{' '.join(head)} - {event}" if head else event, *extras]) + "\n"
    sources = record.get("sources")
    if isinstance(sources, list):
        text += "".join(f"  {source}\n" for source in sources)
    return text + _traceback(record.get("error_detail"))


def _traceback(detail: Any) -> str:
    """Airflow 3's ``error_detail`` (a list of exceptions with frames) as a Python traceback."""
    if not isinstance(detail, list):
        return ""
    text = ""
    for exc in detail:
        if not isinstance(exc, dict):
            continue
        text += "Traceback (most recent call last):\n"
        for frame in exc.get("frames") or []:
            if isinstance(frame, dict):
                text += (
                    f'  File "{frame.get("filename")}", line {frame.get("lineno")}, '
                    f"in {frame.get('name')}\n"
                )
        text += f"{exc.get('exc_type', 'Error')}: {exc.get('exc_value', '')}\n"
    return text
