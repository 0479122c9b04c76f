"""The wire: every answer and request body of the API, as pydantic models (no FastAPI here).

Routes return them, the client parses with them, ``tests/unit/test_wire_contract.py`` holds
them against ``docs/openapi.yml``. Times are ``datetime.isoformat()`` text (``+00:00``); a key
documented as "only when ..." is left out rather than sent as null.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema

from labcas_workflow_api.domain.models import RunStatus
from labcas_workflow_api.service.run_conf import requires_value
from labcas_workflow_api.wire.fields import Links, Timestamp, optional, run_fields
from labcas_workflow_api.wire.outputs import Annotation as Annotation
from labcas_workflow_api.wire.outputs import FileAnnotation as FileAnnotation
from labcas_workflow_api.wire.outputs import FileEntry as FileEntry
from labcas_workflow_api.wire.outputs import Folder as Folder
from labcas_workflow_api.wire.outputs import FolderLink as FolderLink
from labcas_workflow_api.wire.outputs import FolderRun as FolderRun
from labcas_workflow_api.wire.outputs import Updated as Updated

if TYPE_CHECKING:
    from labcas_workflow_api.domain import models as domain
    from labcas_workflow_api.service.catalog import WorkflowView
    from labcas_workflow_api.service.run_starts import Started
    from labcas_workflow_api.service.runs import RunDetail as ServiceRunDetail


class Health(BaseModel):
    status: Literal["ok"]


CheckResult = Literal["ok", "failed"]


class ReadinessChecks(BaseModel):
    """Each part: ``ok`` or ``failed`` (what failed is logged under the request id); the
    access config may also be ``last good``: the current one does not load, and the last one
    that did is in use."""

    config: Literal["ok", "last good", "failed"]
    engine: CheckResult
    storage: CheckResult


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: ReadinessChecks
    request_id: str | SkipJsonSchema[None] = optional(
        "When a check is not ok: the id its details are logged under"
    )


class Problem(BaseModel):
    """An error answer (RFC 9457 ``application/problem+json``)."""

    type: str = Field(description="`about:blank`: the status and title say it all")
    title: str
    status: int
    detail: str
    request_id: str | SkipJsonSchema[None] = optional(
        "The X-Request-ID of this answer: quote it to the operators"
    )
    parameter: str | SkipJsonSchema[None] = optional("The offending parameter (422)")
    run_id: str | SkipJsonSchema[None] = optional(
        "A run the engine may still start although it did not confirm it (a 5xx answer "
        "to a start): look it up before starting again."
    )


class Entry(BaseModel):
    """An id with a human description."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    description: str | None


class DataSelectionList(BaseModel):
    data_selections: list[Entry]


class WorkflowList(BaseModel):
    workflows: list[Entry]


class Parameter(BaseModel):
    """One workflow parameter: its default, description, whether a run must give it, and
    ``schema``, its full JSON Schema (the one to read). The schema's ``type``, ``title``,
    ``enum``, bounds, ``pattern``, ``format`` and ``items`` are also copied to the top level
    for clients that read them there, each only when the schema has it with a value of the
    documented type."""

    # strict: a copy is made of a value already of its type only, never coerced ("5" -> 5)
    model_config = ConfigDict(strict=True)

    type: str | list[str] | SkipJsonSchema[None] = optional()
    title: str | SkipJsonSchema[None] = optional()
    enum: list[Any] | SkipJsonSchema[None] = optional()
    minimum: int | float | SkipJsonSchema[None] = optional()
    maximum: int | float | SkipJsonSchema[None] = optional()
    exclusiveMinimum: int | float | SkipJsonSchema[None] = optional()
    exclusiveMaximum: int | float | SkipJsonSchema[None] = optional()
    minLength: int | SkipJsonSchema[None] = optional()
    maxLength: int | SkipJsonSchema[None] = optional()
    pattern: str | SkipJsonSchema[None] = optional()
    format: str | SkipJsonSchema[None] = optional()
    items: dict[str, Any] | SkipJsonSchema[None] = optional()
    minItems: int | SkipJsonSchema[None] = optional()
    maxItems: int | SkipJsonSchema[None] = optional()
    default: Any = Field(description="Taken when a run does not give the parameter")
    description: str | None
    required: bool = Field(description="No default, and the schema refuses null")
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of the value")

    @classmethod
    def of(cls, parameter: domain.Parameter) -> Parameter:
        schema = parameter.schema
        copies = {key: schema[key] for key in COPIED_KEYS if key in schema}
        fields = {
            "default": parameter.default,
            "description": parameter.description,
            "required": requires_value(parameter),
            "schema": schema,
        }
        try:
            return cls(**copies, **fields)
        except ValidationError as exc:  # a key of the wrong type stays in the schema only
            wrong = {error["loc"][0] for error in exc.errors()}
            return cls(**{k: v for k, v in copies.items() if k not in wrong}, **fields)


#: The schema keys a parameter also carries at its top level, in answer order.
COPIED_KEYS = tuple(
    name
    for name in Parameter.model_fields
    if name not in ("default", "description", "required", "schema_")
)


class WorkflowDetail(BaseModel):
    id: str
    description: str | None
    parameters: dict[str, Parameter]
    schedule: str | None
    paused: bool
    data_selections: list[str]

    @classmethod
    def of(cls, view: WorkflowView) -> WorkflowDetail:
        workflow = view.workflow
        return cls(
            id=workflow.id,
            description=workflow.description,
            parameters={name: Parameter.of(p) for name, p in workflow.parameters.items()},
            schedule=workflow.schedule,
            paused=workflow.paused,
            data_selections=view.data_selections,
        )


def _output_folder() -> Any:
    return Field(
        description=(
            "The run's folder in the caller's outputs (`/output-data/{output_folder}`, the "
            "`output_url`); null when the run names none"
        )
    )


def _web_url() -> Any:
    return optional("The web app's page of the run, for people (only when served here)")


class Run(BaseModel):
    run_id: str
    workflow_id: str
    status: RunStatus
    start_time: Timestamp | None
    end_time: Timestamp | None
    output_url: str | None
    output_folder: str | None = _output_folder()
    web_url: str | SkipJsonSchema[None] = _web_url()
    conf: dict[str, Any] = Field(
        description="The run's parameters and `in_data_selection` (server-set keys removed)"
    )

    @classmethod
    def of(cls, run: domain.Run, links: Links) -> Run:
        return cls(**run_fields(run, links))


class RunList(BaseModel):
    runs: list[Run]
    next: str | SkipJsonSchema[None] = optional(
        "Link to the next page (only with `limit`, until the last page)"
    )


class Task(BaseModel):
    """One task instance of a run (one per map index of a mapped task)."""

    model_config = ConfigDict(from_attributes=True)

    task_id: str
    map_index: int = Field(description="-1 unless the task is mapped")
    state: str | None = Field(description="The engine's task state; null before it is scheduled")
    start_time: Timestamp | None
    end_time: Timestamp | None
    duration: float | None = Field(description="Seconds")
    try_number: int = Field(ge=0, description="The latest try (0 before the first)")


class Progress(BaseModel):
    done: int = Field(ge=0, description="Task instances finished in any way")
    total: int = Field(ge=0)


class RunDetail(Run):
    tasks: list[Task]
    progress: Progress

    @classmethod
    def of_detail(cls, detail: ServiceRunDetail, links: Links) -> RunDetail:
        done, total = detail.progress
        return cls(
            **run_fields(detail.run, links),
            tasks=detail.tasks,
            progress=Progress(done=done, total=total),
        )


class RunRequest(BaseModel):
    """The body that starts a run: the data selection, and the parameters at the top level or
    under ``params``."""

    model_config = ConfigDict(extra="allow")

    in_data_selection: str
    workflow_id: str | SkipJsonSchema[None] = optional()
    params: dict[str, Any] | SkipJsonSchema[None] = optional()


class StartedRun(BaseModel):
    run_id: str
    workflow_id: str
    status: RunStatus
    output_url: str | None
    output_folder: str | None = _output_folder()
    web_url: str | SkipJsonSchema[None] = _web_url()

    @classmethod
    def of(cls, run: domain.Run, links: Links) -> StartedRun:
        return cls(**run_fields(run, links))


class DryRun(BaseModel):
    """What a start would do: the run it would make, with the whole conf that would be sent.
    Its status is ``validated``: the request passed every check, and nothing was started."""

    run_id: str
    workflow_id: str
    status: Literal["validated"]
    start_time: Timestamp | None
    end_time: Timestamp | None
    output_url: str | None
    output_folder: str | None = _output_folder()
    conf: dict[str, Any] = Field(description="The whole conf that would be sent to the engine")
    dry_run: bool

    @classmethod
    def of_started(cls, started: Started, links: Links) -> DryRun:
        fields = {**run_fields(started.run, links), "conf": started.conf, "status": "validated"}
        return cls(**fields, dry_run=True)  # no web_url: nothing was started
