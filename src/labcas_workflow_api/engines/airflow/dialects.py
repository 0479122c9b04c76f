"""What each Airflow REST API version calls things: ``/api/v1`` (Airflow 2), ``/api/v2`` (3)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from labcas_workflow_api.domain.errors import ConfigError

Params = dict[str, str | int | list[str]]

# Usernames whose JSON form is the same in every database's text rendering of a JSON column.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._@-]+")
#: The task instances of runs named in the body (any DAG, any run), in pages.
BATCH_TASK_INSTANCES = "/dags/~/dagRuns/~/taskInstances/list"


def api_path(*segments: str | int) -> str:
    """``/segment/segment...`` with each segment quoted (``api_path("dags", dag_id)``)."""
    return "".join("/" + quote(str(segment), safe="") for segment in segments)


@dataclass(frozen=True)
class Dialect:
    """What one Airflow REST API version calls things."""

    prefix: str
    health_path: str
    #: How the engine's credentials are sent: ``jwt`` (``POST /auth/token``) or ``basic``.
    credentials: str = "jwt"
    server_side_run_filters: bool = False
    trigger_needs_logical_date: bool = False
    #: ``ndjson``: Airflow 3's structured log records, one JSON object a line; ``text``: plain.
    log_format: str = "text"
    #: Whether ``PATCH dagRun`` takes a ``note`` with the ``state`` (else ``.../setNote``).
    note_in_patch: bool = False
    #: Where runs are listed with the DAG id, state filter and paging in a JSON body
    #: (Airflow 2's ``POST /dags/~/dagRuns/list``, uncapped page size); else ``GET dagRuns``.
    batch_runs_path: str | None = None
    #: Whether the task instances of an unknown run are an empty list (Airflow 2), not a 404.
    unknown_run_lists_empty: bool = False
    #: The longest path the transport takes cheaply (MWAA's ``InvokeRestApi``: 64 characters);
    #: reads with longer paths go through listings with the ids in the query or body.
    max_path: int | None = None
    #: Whether runs name the DAG versions they used and sources are kept per version
    #: (Airflow 3's ``dag_versions``, ``/dagSources/{dag_id}?version_number=``); else a DAG's
    #: source is its file's now (``/dagSources/{file_token}``).
    dag_versions: bool = False

    def fits(self, path: str) -> bool:
        return self.max_path is None or len(path) <= self.max_path

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
    dag_versions=True,
)
V1 = Dialect(
    prefix="/api/v1",
    health_path="/health",
    credentials="basic",
    batch_runs_path="/dags/~/dagRuns/list",
    unknown_run_lists_empty=True,
)


def dialect_for(api_version: str) -> Dialect:
    """The dialect of ``v1`` (Airflow 2) or ``v2`` (Airflow 3); ``ConfigError`` otherwise."""
    try:
        return {"v1": V1, "v2": V2}[api_version]
    except KeyError:
        raise ConfigError(
            f"Airflow API version {api_version!r} is not supported (use v1 or v2)"
        ) from None
