"""Starting, listing, following and cancelling a caller's runs: who may, which runs are
theirs, a short-lived cache of their run lists."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from labcas_workflow_api.auth import policy
from labcas_workflow_api.cache import Cached, may_wait
from labcas_workflow_api.domain.access import Collection
from labcas_workflow_api.domain.errors import (
    Conflict,
    DeadlineExceeded,
    IdempotencyKeyReused,
    InvalidParameters,
    LabcasError,
    NotFound,
    UpstreamError,
)
from labcas_workflow_api.domain.models import Run, RunStatus, TaskInstance
from labcas_workflow_api.service import run_pages
from labcas_workflow_api.service.catalog import Catalog, not_found_as
from labcas_workflow_api.service.log_pages import LogPage, map_index_logs
from labcas_workflow_api.service.run_conf import (
    RunRequest,
    output_path,
    public_conf,
    run_id_prefix,
    validate_params,
)
from labcas_workflow_api.service.run_pages import RunPage, newest_first
from labcas_workflow_api.service.run_starts import Started, Starts, keyed_run_id, unconfirmed

_MAX_CACHED_LISTS = 10_000
log = logging.getLogger(__name__)

#: How long after its time to live a user's run list is still answered at once, while it is
#: renewed behind: a list may be one renewal behind (the caller's own starts and cancels drop
#: it, so they show at once), and no listing waits on the engine while one is held.
RUN_LISTS_STALE_FOR = 2.0
#: A cached run list: (user, the workflows they may run, status).
_ListKey = tuple[str, tuple[str, ...], RunStatus | None]


@dataclass(frozen=True)
class RunDetail:
    """A run with its task instances (in DAG order)."""

    run: Run
    tasks: list[TaskInstance]

    @property
    def progress(self) -> tuple[int, int]:
        """Task instances finished (in any way) and in all."""
        return sum(1 for t in self.tasks if t.finished), len(self.tasks)


class RunService:
    """Start, list and fetch a caller's runs. Raises the domain errors documented per method.

    A caller's run list is kept ``list_ttl`` seconds (a client polling for status asks the
    engine at most that often); starting or cancelling a run drops the caller's lists that
    hold its workflow at once in this process. Single runs, details and logs are always read
    from the engine.
    """

    def __init__(
        self,
        catalog: Catalog,
        staging_bucket: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        list_ttl: float = 1.0,
    ) -> None:
        self.catalog = catalog
        self.engine = catalog.engine
        self.staging_bucket = staging_bucket
        self._clock = clock
        self._list_ttl = list_ttl
        self._lists: dict[_ListKey, Cached[list[Run]]] = {}
        self._lists_lock = threading.Lock()
        self._starts = Starts()

    def _cached(self, key: _ListKey, fetch: Callable[[], list[Run]]) -> list[Run]:
        if self._list_ttl <= 0:
            may_wait()
            return fetch()
        with self._lists_lock:
            cached = self._lists.get(key)
            if cached is None:
                if len(self._lists) >= _MAX_CACHED_LISTS:
                    self._lists.clear()
                cached = self._lists[key] = Cached(
                    fetch, self._list_ttl, serve_stale=False, name="run list"
                )
        return cached.get(stale_for=RUN_LISTS_STALE_FOR)

    def _forget_runs(self, username: str, workflow_id: str) -> None:
        """The caller's runs changed: drop their cached lists holding the workflow (and any
        list being fetched)."""
        with self._lists_lock:
            mine = [c for k, c in self._lists.items() if k[0] == username and workflow_id in k[1]]
        for cached in mine:
            cached.invalidate()

    # -- start --------------------------------------------------------------------------------

    def start(
        self,
        username: str,
        workflow_id: str,
        request: RunRequest,
        *,
        idempotency_key: str | None = None,
        dry_run: bool = False,
        on_trigger: Callable[[str], None] = lambda run_id: None,
    ) -> Started:
        """Authorize, validate and trigger. NotFound/Forbidden per the policy; Conflict when
        the workflow is paused; InvalidParameters for bad params; BadRequest for a bad key;
        IdempotencyKeyReused when the key already started a run with another request.
        Identical keyed starts in flight at once share one trigger. ``on_trigger`` is told
        the run id just before the engine is asked to start it (the audit trail)."""
        config = self.catalog.config()
        deployed = self.catalog.deployed()
        collection = policy.require_run(
            config, deployed, username, request.data_selection, workflow_id
        )

        def start() -> Started:
            return self._start(
                username, workflow_id, request, collection, idempotency_key, dry_run, on_trigger
            )

        if idempotency_key is None or dry_run:
            return start()
        run_id = keyed_run_id(username, workflow_id, idempotency_key)
        started = self._starts.once(run_id, start)
        if started.replayed and public_conf(started.conf) != request.public():
            raise IdempotencyKeyReused("idempotency key reused with a different request")
        return started

    def _start(
        self,
        username: str,
        workflow_id: str,
        request: RunRequest,
        collection: Collection,
        idempotency_key: str | None,
        dry_run: bool,
        on_trigger: Callable[[str], None],
    ) -> Started:
        with not_found_as("workflow", workflow_id):
            workflow = self.engine.get_workflow(workflow_id)
        validate_params(workflow, request.params)
        if workflow.paused:
            raise Conflict(f"workflow {workflow_id!r} is paused")
        stamp = self._clock().strftime("%Y%m%dT%H%M%S%f")
        conf = {
            **request.public(),
            "in_bucket": collection.bucket,
            "in_prefix": collection.prefix,
            "out_bucket": self.staging_bucket,
            "out_prefix": f"{username}/{stamp}",
            "username": username,
        }
        run_id = (
            run_id_prefix(username) + stamp
            if idempotency_key is None
            else keyed_run_id(username, workflow_id, idempotency_key)
        )
        if dry_run:
            return Started(Run(run_id, workflow_id, RunStatus.QUEUED, conf=conf), conf)
        self._forget_runs(username, workflow_id)
        on_trigger(run_id)
        try:
            run = self.engine.trigger_run(workflow_id, run_id, conf)
        except InvalidParameters as exc:
            refused = "the engine refused the run parameters"
            raise InvalidParameters(refused, internal=exc.detail) from None
        except Conflict as exc:
            if idempotency_key is None:
                refused = f"workflow {workflow_id!r} cannot be run now"
                raise Conflict(refused, internal=exc.detail) from None
            existing = self.get(username, workflow_id, run_id)
            return Started(existing, existing.conf, replayed=True)
        except UpstreamError as exc:
            # The trigger may have reached the engine although its answer was lost: the run id
            # is ours, so look once, rather than leave a run the caller was told did not start.
            try:
                run = self.get(username, workflow_id, run_id)
            except LabcasError:
                raise unconfirmed(exc, run_id) from None
        finally:
            self._forget_runs(username, workflow_id)  # also when the answer was lost
        return Started(run if run.conf else replace(run, conf=conf), conf)

    # -- list ---------------------------------------------------------------------------------

    def list_all(
        self, username: str, *, status: RunStatus | None = None, workflow: str | None = None
    ) -> list[Run]:
        """The caller's runs of every workflow they may run now (of ``workflow`` only, when
        given: NotFound when they may run it nowhere), in ``status`` when given, newest first,
        out of their one cached list across workflows (one engine listing)."""
        view = self.catalog.view(username)
        if workflow is not None:
            view.selections_for(workflow)
        visible = tuple(sorted(view.selections_of))

        def fetch() -> list[Run]:
            return self.engine.list_user_runs(
                visible, username=username, run_id_prefix=run_id_prefix(username), status=status
            )

        runs = self._cached((username, visible, status), fetch)
        wanted = {workflow} if workflow is not None else set(visible)
        mine = [r for r in runs if r.workflow_id in wanted and r.conf.get("username") == username]
        return newest_first([r for r in mine if status in (None, r.status)])

    def page_all(
        self,
        username: str,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> RunPage:
        """The runs of ``list_all`` after ``cursor`` (``run_pages.page``): all of them, or
        ``limit``, with the cursor of the next page; BadRequest for a cursor this service did not
        make."""
        runs = self.list_all(username, status=status, workflow=workflow)
        return run_pages.page(runs, limit=limit, cursor=cursor, across=True)

    def page(
        self,
        username: str,
        workflow_id: str,
        *,
        status: RunStatus | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> RunPage:
        """As ``page_all`` of one workflow, with cursors that mark places in its runs only."""
        runs = self.list_all(username, status=status, workflow=workflow_id)
        return run_pages.page(runs, limit=limit, cursor=cursor)

    def by_folder(self, username: str) -> dict[str, Run]:
        """The caller's runs of ``list_all`` by output folder (``output_path``); empty when the
        engine cannot say now (logged): outputs are then listed without their runs."""
        try:
            runs = self.list_all(username)
        except DeadlineExceeded:
            raise
        except UpstreamError as exc:
            log.warning("outputs listed without their runs: %s", exc.detail)
            return {}
        found: dict[str, Run] = {}
        for run in runs:
            folder = output_path(run)
            if folder is not None:
                found.setdefault(folder, run)
        return found

    # -- one run ------------------------------------------------------------------------------

    def get(self, username: str, workflow_id: str, run_id: str) -> Run:
        """One of the caller's runs; NotFound when absent or someone else's."""
        policy.require_visible_workflow(
            self.catalog.config(), self.catalog.deployed(), username, workflow_id
        )
        if not run_id.startswith(run_id_prefix(username)):
            raise NotFound(f"run {run_id!r} not found")
        with not_found_as("run", run_id):
            run = self.engine.get_run(workflow_id, run_id)
        if run.conf.get("username") != username:
            raise NotFound(f"run {run_id!r} not found")
        return run

    def detail(self, username: str, workflow_id: str, run_id: str) -> RunDetail:
        """One of the caller's runs with its tasks; NotFound as ``get``."""
        run = self.get(username, workflow_id, run_id)
        with not_found_as("run", run_id):
            return RunDetail(run, self.engine.list_tasks(workflow_id, run_id))

    def log(
        self,
        username: str,
        workflow_id: str,
        run_id: str,
        task_id: str,
        *,
        try_number: int | None = None,
        map_index: int | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> LogPage:
        """The page of a task's log from byte ``offset``: the latest try unless ``try_number``
        is given, each map index's log in turn unless ``map_index`` picks one. NotFound as
        ``get``, or for an unknown task, map index or try, or a task that has not started,
        before anything is read."""
        tasks = self.detail(username, workflow_id, run_id).tasks
        instances = [t for t in tasks if t.task_id == task_id]
        if not instances:
            raise NotFound(f"task {task_id!r} not found in run {run_id!r}")
        if map_index is not None:
            instances = [t for t in instances if t.map_index == map_index]
            if not instances:
                raise NotFound(f"task {task_id!r} has no map index {map_index}")
        if try_number is not None:
            instances = [t for t in instances if t.try_number >= try_number]
            if not instances:
                raise NotFound(f"task {task_id!r} has no try {try_number}")
        parts = [(t, try_number if try_number is not None else t.try_number) for t in instances]
        if all(t.state is None and number == 0 for t, number in parts):
            raise NotFound(f"task {task_id!r} has not started: there is no log yet")
        task, number = parts[0]
        with not_found_as("log of task", task_id):
            first = self.engine.task_log(
                workflow_id, run_id, task_id, number, map_index=task.map_index
            )
        if len(parts) == 1:
            return LogPage(first, offset=offset, limit=limit, try_number=number)
        chunks = map_index_logs(self.engine, workflow_id, run_id, parts, first)
        return LogPage(chunks, offset=offset, limit=limit, try_number=try_number)

    def cancel(self, username: str, workflow_id: str, run_id: str) -> Run:
        """Stop one of the caller's queued or running runs (NotFound as ``get``). Idempotent;
        Conflict when the run already finished otherwise."""
        self.get(username, workflow_id, run_id)
        self._forget_runs(username, workflow_id)
        try:
            with not_found_as("run", run_id):
                return self.engine.cancel_run(workflow_id, run_id, by=username)
        finally:
            self._forget_runs(username, workflow_id)
