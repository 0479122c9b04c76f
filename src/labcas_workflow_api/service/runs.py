"""Starting, listing, following and cancelling runs: conf building, parameter validation,
ownership of runs, paging."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from labcas_workflow_api import cursor
from labcas_workflow_api.auth import policy
from labcas_workflow_api.cache import Cached
from labcas_workflow_api.domain.access import Collection
from labcas_workflow_api.domain.errors import (
    BadRequest,
    Conflict,
    IdempotencyKeyReused,
    InvalidParameters,
    LabcasError,
    NotFound,
    UpstreamError,
)
from labcas_workflow_api.domain.json_body import parse_json
from labcas_workflow_api.domain.models import Parameter, Run, RunStatus, TaskInstance, Workflow
from labcas_workflow_api.service.catalog import Catalog
from labcas_workflow_api.service.log_pages import LogPage

RESERVED_KEYS = frozenset({"in_bucket", "in_prefix", "out_bucket", "out_prefix", "username"})
_ENVELOPE_KEYS = frozenset({"in_data_selection", "workflow_id", "params"})
_MAX_IDEMPOTENCY_KEY = 255
_MAX_CACHED_LISTS = 10_000


def run_id_prefix(username: str) -> str:
    """Every run started for ``username`` has an id starting with this."""
    return f"labcas__{username}__"


def public_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """The conf shown to clients: without the keys the server sets."""
    return {k: v for k, v in conf.items() if k not in RESERVED_KEYS}


def output_path(run: Run) -> str | None:
    """The run's folder relative to its owner's output area, e.g. ``20261128T101010000000/``."""
    prefix = run.conf.get("out_prefix")
    owner = run.conf.get("username")
    if not isinstance(prefix, str) or not isinstance(owner, str):
        return None
    head = f"{owner}/"
    if not prefix.startswith(head):
        return None
    return prefix[len(head) :].strip("/") + "/"


@dataclass(frozen=True)
class RunRequest:
    """A validated request to start a run."""

    data_selection: str
    params: dict[str, Any]


@dataclass(frozen=True)
class RunDetail:
    """A run with its task instances (in DAG order)."""

    run: Run
    tasks: list[TaskInstance]

    @property
    def progress(self) -> tuple[int, int]:
        """Task instances finished (in any way) and in all."""
        return sum(1 for t in self.tasks if t.finished), len(self.tasks)


@dataclass(frozen=True)
class RunPage:
    """One page of a run listing; ``next_cursor`` is None on the last page."""

    runs: list[Run]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Started:
    """The outcome of a start: the run, the conf sent, and whether it was a replay."""

    run: Run
    conf: dict[str, Any]
    replayed: bool = False


class _Starts:
    """Starts of one run id in flight in this process. The first runs; identical ones that
    arrive meanwhile (a double click, a client retrying after its timeout) wait for its outcome
    instead of sending Airflow the same trigger again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, tuple[threading.Event, list[Started | LabcasError]]] = {}

    def once(self, run_id: str, start: Callable[[], Started]) -> Started:
        with self._lock:
            flight = self._flights.get(run_id)
            if flight is None:
                flight = self._flights[run_id] = (threading.Event(), [])
                leader = True
            else:
                leader = False
        done, outcome = flight
        if not leader:
            done.wait()
            if not outcome:  # the first start failed unexpectedly: try on our own
                return start()
            first = outcome[0]
            if isinstance(first, LabcasError):
                raise first.again()
            return Started(first.run, first.conf, replayed=True)
        try:
            started = start()
            outcome.append(started)
            return started
        except LabcasError as exc:
            outcome.append(exc)
            raise
        finally:
            with self._lock:
                del self._flights[run_id]
            done.set()


def parse_run_request(body: bytes, workflow_id: str) -> RunRequest:
    """Parse a POST body (top-level params, or under ``params``); BadRequest on any misuse."""
    document = parse_json(body)
    if not isinstance(document, dict):
        raise BadRequest("request body must be a JSON object")
    if "workflow_id" in document and document["workflow_id"] != workflow_id:
        raise BadRequest(f"workflow_id {document['workflow_id']!r} does not match the URL")
    selection = document.get("in_data_selection")
    if selection is None:
        raise BadRequest("missing field: in_data_selection")
    if not isinstance(selection, str) or not selection:
        raise BadRequest("in_data_selection must be a non-empty string")
    nested = document.get("params", {})
    if not isinstance(nested, dict):
        raise BadRequest("params must be a JSON object")
    params = {k: v for k, v in document.items() if k not in _ENVELOPE_KEYS}
    overlap = set(params) & set(nested)
    if overlap:
        raise BadRequest(f"parameter {sorted(overlap)[0]!r} given twice")
    params.update(nested)
    reserved = sorted(RESERVED_KEYS & set(params))
    if reserved:
        raise BadRequest(f"{reserved[0]!r} is set by the server and may not be supplied")
    if "in_data_selection" in nested:
        raise BadRequest("in_data_selection goes at the top level, not under params")
    return RunRequest(selection, params)


def _unconfirmed(exc: UpstreamError, run_id: str) -> UpstreamError:
    """The engine's failure, naming the run that may still start (Airflow may yet process a
    trigger whose answer we gave up on): the caller can look it up instead of starting it
    again."""
    return type(exc)(f"{exc.detail}; run {run_id!r} may still start", **exc.extra, run_id=run_id)


@contextmanager
def _ours(kind: str, name: str) -> Iterator[None]:
    """The engine's NotFound in our words: its own may quote the engine's answer."""
    try:
        yield
    except NotFound as exc:
        raise NotFound(f"{kind} {name!r} not found", internal=exc.detail) from None


def _public_request(request: RunRequest) -> dict[str, Any]:
    """The part of a run's conf that comes from the request (what ``public_conf`` shows)."""
    return {**request.params, "in_data_selection": request.data_selection}


def validate_params(workflow: Workflow, params: dict[str, Any]) -> None:
    """InvalidParameters naming the first parameter that fails the workflow's param schema."""
    import jsonschema  # here, not at the top: ~50 ms off every Lambda cold start (bench/)

    for name in sorted(params):
        if name not in workflow.parameters:
            raise InvalidParameters(f"unknown parameter {name!r}", parameter=name)
        schema = workflow.parameters[name].schema
        try:
            jsonschema.validate(params[name], schema)
        except jsonschema.ValidationError as exc:
            raise InvalidParameters(f"parameter {name!r}: {exc.message}", parameter=name) from None
        except jsonschema.SchemaError:
            continue
    for name, parameter in workflow.parameters.items():
        if name not in params and requires_value(parameter):
            raise InvalidParameters(f"parameter {name!r} is required", parameter=name)


def requires_value(parameter: Parameter) -> bool:
    """Whether a run must give this parameter: no default, and its schema refuses null."""
    kind = parameter.schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    return parameter.default is None and kind is not None and "null" not in kinds


class RunService:
    """Start, list and fetch a caller's runs. Raises the domain errors documented per method.

    A caller's run list is kept ``list_ttl`` seconds (a client polling for status asks the
    engine at most that often); starting or cancelling a run drops it at once in this
    process. Single runs, details and logs are always read from the engine.
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
        self._lists: dict[tuple[str, str, RunStatus | None], Cached[list[Run]]] = {}
        self._lists_lock = threading.Lock()
        self._starts = _Starts()

    def _engine_runs(self, username: str, workflow_id: str, status: RunStatus | None) -> list[Run]:
        def fetch() -> list[Run]:
            return self.engine.list_runs(
                workflow_id,
                username=username,
                run_id_prefix=run_id_prefix(username),
                status=status,
            )

        if self._list_ttl <= 0:
            return fetch()
        key = (workflow_id, username, status)
        with self._lists_lock:
            cached = self._lists.get(key)
            if cached is None:
                if len(self._lists) >= _MAX_CACHED_LISTS:
                    self._lists.clear()
                cached = self._lists[key] = Cached(
                    fetch, self._list_ttl, serve_stale=False, name="run list"
                )
        return cached.get()

    def _forget_runs(self, username: str, workflow_id: str) -> None:
        """The caller's runs changed: drop their cached lists (and any list being fetched)."""
        with self._lists_lock:
            mine = [c for k, c in self._lists.items() if k[:2] == (workflow_id, username)]
        for cached in mine:
            cached.invalidate()

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
        run_id = self._keyed_run_id(username, workflow_id, idempotency_key)
        started = self._starts.once(run_id, start)
        if started.replayed and public_conf(started.conf) != _public_request(request):
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
        with _ours("workflow", workflow_id):
            workflow = self.engine.get_workflow(workflow_id)
        validate_params(workflow, request.params)
        if workflow.paused:
            raise Conflict(f"workflow {workflow_id!r} is paused")
        stamp = self._clock().strftime("%Y%m%dT%H%M%S%f")
        conf = {
            **request.params,
            "in_data_selection": request.data_selection,
            "in_bucket": collection.bucket,
            "in_prefix": collection.prefix,
            "out_bucket": self.staging_bucket,
            "out_prefix": f"{username}/{stamp}",
            "username": username,
        }
        run_id = (
            run_id_prefix(username) + stamp
            if idempotency_key is None
            else self._keyed_run_id(username, workflow_id, idempotency_key)
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
            found = self._look_up(username, workflow_id, run_id)
            if found is None:
                raise _unconfirmed(exc, run_id) from None
            run = found
        finally:
            self._forget_runs(username, workflow_id)  # also when the answer was lost
        if not run.conf:
            run = Run(run.run_id, run.workflow_id, run.status, run.start_time, run.end_time, conf)
        return Started(run, conf)

    def _look_up(self, username: str, workflow_id: str, run_id: str) -> Run | None:
        """The caller's run ``run_id`` if the engine has it; None when it does not or cannot
        say."""
        try:
            run = self.engine.get_run(workflow_id, run_id)
        except LabcasError:
            return None
        return run if run.conf.get("username") == username else None

    @staticmethod
    def _keyed_run_id(username: str, workflow_id: str, idempotency_key: str) -> str:
        """The run id of every start with this key (BadRequest for a bad key)."""
        if (
            not 0 < len(idempotency_key) <= _MAX_IDEMPOTENCY_KEY
            or not idempotency_key.isprintable()
        ):
            raise BadRequest("Idempotency-Key must be 1 to 255 printable characters")
        digest = hashlib.sha256(f"{workflow_id}\0{idempotency_key}".encode()).hexdigest()
        return f"{run_id_prefix(username)}k{digest[:24]}"

    def list(
        self, username: str, workflow_id: str, *, status: RunStatus | None = None
    ) -> list[Run]:
        """The caller's runs of the workflow (in ``status`` when given), newest first;
        NotFound if the workflow is not visible."""
        policy.require_visible_workflow(
            self.catalog.config(), self.catalog.deployed(), username, workflow_id
        )
        with _ours("workflow", workflow_id):
            runs = self._engine_runs(username, workflow_id, status)
        mine = [
            r for r in runs if r.conf.get("username") == username and status in (None, r.status)
        ]
        return sorted(mine, key=_newest_first_key, reverse=True)

    def page(
        self,
        username: str,
        workflow_id: str,
        *,
        status: RunStatus | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> RunPage:
        """The runs of ``list`` after ``cursor`` (all of them, or ``limit``), with the cursor
        of the next page. The cursor marks a place in the order, so runs started meanwhile do
        not shift the pages. BadRequest for a cursor this service did not make."""
        after = _decode_cursor(cursor) if cursor is not None else None
        runs = self.list(username, workflow_id, status=status)
        if after is not None:
            runs = [r for r in runs if _newest_first_key(r) < after]
        if limit is None or len(runs) <= limit:
            return RunPage(runs)
        shown = runs[:limit]
        return RunPage(shown, _encode_cursor(_newest_first_key(shown[-1])))

    def get(self, username: str, workflow_id: str, run_id: str) -> Run:
        """One of the caller's runs; NotFound when absent or someone else's."""
        policy.require_visible_workflow(
            self.catalog.config(), self.catalog.deployed(), username, workflow_id
        )
        if not run_id.startswith(run_id_prefix(username)):
            raise NotFound(f"run {run_id!r} not found")
        with _ours("run", run_id):
            run = self.engine.get_run(workflow_id, run_id)
        if run.conf.get("username") != username:
            raise NotFound(f"run {run_id!r} not found")
        return run

    def detail(self, username: str, workflow_id: str, run_id: str) -> RunDetail:
        """One of the caller's runs with its tasks; NotFound as ``get``."""
        run = self.get(username, workflow_id, run_id)
        with _ours("run", run_id):
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
        """The text of a task's log: the latest try unless ``try_number`` is given. A mapped
        task gives each map index's log in turn unless ``map_index`` picks one. NotFound (as
        ``get``, or for an unknown task, map index or try) is raised before anything is read.
        The page starts at byte ``offset`` and holds at most ``limit`` bytes (``LogPage``).
        """
        self.get(username, workflow_id, run_id)
        with _ours("run", run_id):
            tasks = self.engine.list_tasks(workflow_id, run_id)
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
        with _ours("log of task", task_id):
            first = self.engine.task_log(
                workflow_id, run_id, task_id, number, map_index=task.map_index
            )
        if len(parts) == 1:
            return LogPage(first, offset=offset, limit=limit, try_number=number)
        chunks = self._mapped_log(workflow_id, run_id, parts, first)
        return LogPage(chunks, offset=offset, limit=limit, try_number=try_number)

    def _mapped_log(
        self,
        workflow_id: str,
        run_id: str,
        parts: Sequence[tuple[TaskInstance, int]],
        first: Iterator[bytes],
    ) -> Iterator[bytes]:
        """The logs of several map indexes of a task (the first one already opened), each
        after a heading line; a log that cannot be read is noted in the text."""
        for i, (task, number) in enumerate(parts):
            yield f"--- {task.task_id}, map index {task.map_index}, try {number} ---\n".encode()
            if i == 0:
                yield from first
                continue
            try:
                chunks = self.engine.task_log(
                    workflow_id, run_id, task.task_id, number, map_index=task.map_index
                )
            except LabcasError as exc:  # its detail may quote the engine: the kind only
                yield f"[no log: {exc.title.lower()}]\n".encode()
                continue
            yield from chunks

    def cancel(self, username: str, workflow_id: str, run_id: str) -> Run:
        """Stop one of the caller's queued or running runs (NotFound as ``get``). Idempotent;
        Conflict when the run already finished otherwise."""
        self.get(username, workflow_id, run_id)
        self._forget_runs(username, workflow_id)
        try:
            with _ours("run", run_id):
                return self.engine.cancel_run(workflow_id, run_id, by=username)
        finally:
            self._forget_runs(username, workflow_id)


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _encode_cursor(key: tuple[datetime, str]) -> str:
    return cursor.encode([key[0].isoformat(), key[1]])


def _decode_cursor(token: str) -> tuple[datetime, str]:
    """The place a cursor marks; BadRequest for anything ``_encode_cursor`` did not make."""
    return cursor.decode(token, _read_place)


def _read_place(document: Any) -> tuple[datetime, str]:
    if not isinstance(document, list):
        raise TypeError(document)
    moment, run_id = document
    when = datetime.fromisoformat(moment)
    if when.tzinfo is None or not isinstance(run_id, str):
        raise ValueError(document)
    return when, run_id


def _newest_first_key(run: Run) -> tuple[datetime, str]:
    moment = run.start_time or run.queued_at or _EPOCH
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment, run.run_id)
