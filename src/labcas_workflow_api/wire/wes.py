"""The GA4GH WES 1.1 wire (schema names prefixed ``Wes``: ours and WES's share ``RunStatus``
and ``RunRequest``), and the one mapping of our states to WES's. Times are the standard's
``%Y-%m-%dT%H:%M:%SZ``; a key documented as "only when ..." is left out rather than null.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from labcas_workflow_api.wire.fields import optional


class WesState(StrEnum):
    """A WES run or task state."""

    UNKNOWN = "UNKNOWN"
    QUEUED = "QUEUED"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETE = "COMPLETE"
    EXECUTOR_ERROR = "EXECUTOR_ERROR"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    CANCELED = "CANCELED"
    CANCELING = "CANCELING"
    PREEMPTED = "PREEMPTED"


#: Our run statuses (``RunStatus``) and Airflow's task states, as WES states. A task state
#: Airflow has not got yet (``None``) is ``QUEUED``; one not listed is ``UNKNOWN``.
STATES: dict[str | None, WesState] = {
    state: wes
    for wes, states in (
        (WesState.QUEUED, (None, "none", "scheduled", "queued", "up_for_retry", "restarting")),
        (WesState.RUNNING, ("running", "deferred", "up_for_reschedule")),
        (WesState.COMPLETE, ("success", "skipped")),
        (WesState.EXECUTOR_ERROR, ("failed", "upstream_failed")),
        (WesState.CANCELED, ("cancelled",)),
        (WesState.CANCELING, ("shutdown",)),
        (WesState.UNKNOWN, ("removed",)),
    )
    for state in states
}


def wes_state(state: str | None) -> WesState:
    """The WES state of a run status (``RunStatus`` is a ``str``) or an Airflow task state."""
    return STATES.get(state, WesState.UNKNOWN)


def _wes_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


WesTime = Annotated[
    datetime,
    PlainSerializer(_wes_time, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class WesServiceType(BaseModel):
    group: str
    artifact: str
    version: str


class WesOrganization(BaseModel):
    name: str
    url: str


class WesWorkflowTypeVersion(BaseModel):
    workflow_type_version: list[str]


class WesWorkflowEngineVersion(BaseModel):
    workflow_engine_version: list[str]


class WesDefaultWorkflowEngineParameter(BaseModel):
    name: str
    type: str
    default_value: str


class WesServiceInfo(BaseModel):
    """GA4GH service-info, with WES's own fields."""

    id: str
    name: str
    type: WesServiceType
    description: str
    organization: WesOrganization
    version: str
    workflow_type_versions: dict[str, WesWorkflowTypeVersion]
    supported_wes_versions: list[str]
    supported_filesystem_protocols: list[str]
    workflow_engine_versions: dict[str, WesWorkflowEngineVersion]
    default_workflow_engine_parameters: list[WesDefaultWorkflowEngineParameter]
    system_state_counts: dict[str, int] = Field(description="The caller's runs in each state")
    auth_instructions_url: str
    tags: dict[str, str]


class WesRunRequest(BaseModel):
    """A run request (the JSON body of ``POST /runs``; the multipart form has the same fields,
    the objects as JSON text)."""

    workflow_url: str = Field(description="A curated workflow: its id, or `<API>/workflows/{id}`")
    workflow_type: str
    workflow_type_version: str
    workflow_params: dict[str, Any] | SkipJsonSchema[None] = optional(
        "`in_data_selection` and the workflow's parameters"
    )
    tags: dict[str, str] | SkipJsonSchema[None] = optional()
    workflow_engine_parameters: dict[str, str] | SkipJsonSchema[None] = optional(
        "Refused unless empty"
    )
    workflow_engine: str | SkipJsonSchema[None] = optional()
    workflow_engine_version: str | SkipJsonSchema[None] = optional()


class WesRunId(BaseModel):
    run_id: str


class WesRunStatus(BaseModel):
    run_id: str
    state: WesState


class WesRunSummary(WesRunStatus):
    start_time: WesTime | SkipJsonSchema[None] = optional()
    end_time: WesTime | SkipJsonSchema[None] = optional()
    tags: dict[str, str]


class WesRunListResponse(BaseModel):
    runs: list[WesRunSummary]
    next_page_token: str = Field(description="Empty on the last page")


class WesLog(BaseModel):
    """The run's log: its name, times, and the system logs (no stdout of its own: each task
    has its log)."""

    name: str
    start_time: WesTime | SkipJsonSchema[None] = optional()
    end_time: WesTime | SkipJsonSchema[None] = optional()
    system_logs: list[str]


class WesTaskLog(BaseModel):
    """One task instance; ``state`` (not in WES 1.1's TaskLog) is its state as WES's."""

    id: str = Field(description="`task_id`, or `task_id~map_index` for a mapped task")
    name: str
    state: WesState
    start_time: WesTime | SkipJsonSchema[None] = optional()
    end_time: WesTime | SkipJsonSchema[None] = optional()
    stdout: str | SkipJsonSchema[None] = optional("The URL of the task's log (once it ran)")
    stderr: str | SkipJsonSchema[None] = optional("The same URL: Airflow keeps one log")
    system_logs: list[str]


class WesTaskListResponse(BaseModel):
    task_logs: list[WesTaskLog]
    next_page_token: str = Field(description="Empty on the last page")


class WesRunLog(BaseModel):
    run_id: str
    request: WesRunRequest
    state: WesState
    run_log: WesLog
    task_logs_url: str
    task_logs: list[WesTaskLog] | None = Field(
        description="Deprecated by WES 1.1: always null here; read `task_logs_url`"
    )
    outputs: dict[str, str] = Field(
        description=(
            "`output_folder`, `output_url` (its listing) and `ro_crate_url` (the provenance "
            "record), when the run names a folder; `web_url` when the web app is served here"
        )
    )


class WesErrorResponse(BaseModel):
    """An error answer of the WES face (the rest of the API answers problem+json)."""

    msg: str
    status_code: int
