"""Plain models shared by the ports and the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    """Where a run is: ``cancelled`` is a run someone stopped through this service (its
    outputs are what it wrote until then)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED)


@dataclass(frozen=True)
class Parameter:
    """One workflow parameter: a JSON Schema (``schema``) with a default and a description."""

    default: Any = None
    description: str | None = None
    schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Workflow:
    """A workflow deployed in the engine (an Airflow DAG)."""

    id: str
    description: str | None = None
    parameters: dict[str, Parameter] = field(default_factory=dict)
    schedule: str | None = None
    paused: bool = False


@dataclass(frozen=True)
class Run:
    """One run of a workflow, as the engine reports it."""

    run_id: str
    workflow_id: str
    status: RunStatus
    start_time: datetime | None = None
    end_time: datetime | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    queued_at: datetime | None = None


@dataclass(frozen=True)
class TaskInstance:
    """One task of a run (one per map index for a mapped task): ``state`` is the engine's
    (None before it is scheduled); ``try_number`` is 0 until the task first starts."""

    task_id: str
    state: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: float | None = None
    try_number: int = 0
    map_index: int = -1

    @property
    def finished(self) -> bool:
        """Whether the task is in an Airflow state it will not leave on its own."""
        return self.state in {"success", "failed", "skipped", "upstream_failed", "removed"}


@dataclass(frozen=True)
class ObjectInfo:
    """One object of a storage listing."""

    key: str
    size: int
    last_modified: datetime
    etag: str = ""


@dataclass(frozen=True)
class Fetched:
    """A small object's body, with the ETag of that very body (a listing's may be older)."""

    body: bytes
    etag: str = ""


@dataclass(frozen=True)
class Listing:
    """Part of one level of a storage prefix, in key order: sub-prefixes (ending with ``/``)
    and objects; ``truncated`` when more entries may follow the last one."""

    prefixes: list[str]
    objects: list[ObjectInfo]
    truncated: bool = False


@dataclass(frozen=True)
class Write:
    """A small object to write: unconditionally, only over the object with ETag ``if_match``,
    or only where no object exists (``if_none_match``)."""

    key: str
    body: bytes
    content_type: str = "text/plain"
    if_match: str | None = None
    if_none_match: bool = False


@dataclass(frozen=True)
class EngineVersion:
    """The software that runs the workflows: its name, version and home page."""

    name: str
    version: str
    url: str | None = None


@dataclass(frozen=True)
class WorkflowVersion:
    """The version of a workflow that a run used, as far as its engine tells.

    ``version``: Airflow 3's DAG version number (None on Airflow 2); ``bundle_*``: Airflow 3's
    DAG bundle; ``source_token``: Airflow 2's ``file_token``; ``source``: the DAG file's text
    (None when not given). ``of_run`` is False when this is the workflow's version now, not
    the run's (Airflow 2: the file may have changed since the run).
    """

    workflow_id: str
    version: str | None = None
    source: str | None = None
    source_sha256: str | None = None
    file_name: str | None = None
    bundle_name: str | None = None
    bundle_version: str | None = None
    source_token: str | None = None
    of_run: bool = True
