"""Starting and listing runs: conf building, parameter validation, ownership of runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jsonschema

from labcas_workflow_api.auth import policy
from labcas_workflow_api.domain.errors import (
    BadRequest,
    Conflict,
    InvalidParameters,
    NotFound,
)
from labcas_workflow_api.domain.models import Run, RunStatus, Workflow
from labcas_workflow_api.service.catalog import Catalog

RESERVED_KEYS = frozenset({"in_bucket", "in_prefix", "out_bucket", "out_prefix", "username"})
_ENVELOPE_KEYS = frozenset({"in_data_selection", "workflow_id", "params"})
_MAX_IDEMPOTENCY_KEY = 255


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
class Started:
    """The outcome of a start: the run, the conf sent, and whether it was a replay."""

    run: Run
    conf: dict[str, Any]
    replayed: bool = False


def parse_run_request(body: bytes, workflow_id: str) -> RunRequest:
    """Parse a POST body (top-level params, or under ``params``); BadRequest on any misuse."""
    try:
        document = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON") from None
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


def validate_params(workflow: Workflow, params: dict[str, Any]) -> None:
    """InvalidParameters naming the first parameter that fails the workflow's param schema."""
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
        if name not in params and parameter.default is None and _requires_value(parameter.schema):
            raise InvalidParameters(f"parameter {name!r} is required", parameter=name)


def _requires_value(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    return bool(schema) and kind is not None and "null" not in kinds


class RunService:
    """Start, list and fetch a caller's runs. Raises the domain errors documented per method."""

    def __init__(
        self,
        catalog: Catalog,
        staging_bucket: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.catalog = catalog
        self.engine = catalog.engine
        self.staging_bucket = staging_bucket
        self._clock = clock

    def start(
        self,
        username: str,
        workflow_id: str,
        request: RunRequest,
        *,
        idempotency_key: str | None = None,
        dry_run: bool = False,
    ) -> Started:
        """Authorize, validate and trigger. NotFound/Forbidden per the policy; Conflict when
        the workflow is paused; InvalidParameters for bad params; BadRequest for a bad key."""
        config = self.catalog.config()
        deployed = self.catalog.deployed()
        collection = policy.require_run(
            config, deployed, username, request.data_selection, workflow_id
        )
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
        run_id = run_id_prefix(username) + self._suffix(workflow_id, stamp, idempotency_key)
        if dry_run:
            return Started(Run(run_id, workflow_id, RunStatus.QUEUED, conf=conf), conf)
        try:
            run = self.engine.trigger_run(workflow_id, run_id, conf)
        except Conflict:
            if idempotency_key is None:
                raise
            return Started(self.get(username, workflow_id, run_id), conf, replayed=True)
        if not run.conf:
            run = Run(run.run_id, run.workflow_id, run.status, run.start_time, run.end_time, conf)
        return Started(run, conf)

    @staticmethod
    def _suffix(workflow_id: str, stamp: str, idempotency_key: str | None) -> str:
        if idempotency_key is None:
            return stamp
        if (
            not 0 < len(idempotency_key) <= _MAX_IDEMPOTENCY_KEY
            or not idempotency_key.isprintable()
        ):
            raise BadRequest("Idempotency-Key must be 1 to 255 printable characters")
        digest = hashlib.sha256(f"{workflow_id}\0{idempotency_key}".encode()).hexdigest()
        return f"k{digest[:24]}"

    def list(self, username: str, workflow_id: str) -> list[Run]:
        """The caller's runs of the workflow, newest first; NotFound if not visible."""
        policy.require_visible_workflow(
            self.catalog.config(), self.catalog.deployed(), username, workflow_id
        )
        runs = self.engine.list_runs(
            workflow_id, username=username, run_id_prefix=run_id_prefix(username)
        )
        mine = [r for r in runs if r.conf.get("username") == username]
        return sorted(mine, key=_newest_first_key, reverse=True)

    def get(self, username: str, workflow_id: str, run_id: str) -> Run:
        """One of the caller's runs; NotFound when absent or someone else's."""
        policy.require_visible_workflow(
            self.catalog.config(), self.catalog.deployed(), username, workflow_id
        )
        if not run_id.startswith(run_id_prefix(username)):
            raise NotFound(f"run {run_id!r} not found")
        run = self.engine.get_run(workflow_id, run_id)
        if run.conf.get("username") != username:
            raise NotFound(f"run {run_id!r} not found")
        return run


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _newest_first_key(run: Run) -> tuple[datetime, str]:
    moment = run.start_time or run.queued_at or _EPOCH
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment, run.run_id)
