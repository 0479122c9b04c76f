"""The WES 1.1 routes at ``/ga4gh/wes/v1``: parse, call the same services as ``http/routes/``,
answer WES's models (errors in WES's shape: ``errors.WesRoute``)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request

from labcas_workflow_api import __version__
from labcas_workflow_api import cursor as codec
from labcas_workflow_api.audit import audited
from labcas_workflow_api.domain.errors import NotFound
from labcas_workflow_api.domain.models import TaskInstance
from labcas_workflow_api.http.deps import (
    ENGINE,
    CallerDep,
    ContainerDep,
    LinksDep,
    RequestIdDep,
    off_loop,
    read_body,
    read_run,
    request_body,
)
from labcas_workflow_api.http.wes import answers, ids
from labcas_workflow_api.http.wes.errors import WesRoute
from labcas_workflow_api.http.wes.submit import (
    FORMS,
    WORKFLOW_TYPE,
    WORKFLOW_TYPE_VERSIONS,
    read_submission,
)
from labcas_workflow_api.wire import wes

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": wes.WesErrorResponse, "description": text}
    for status, text in [
        (400, "The request is malformed"),
        (401, "The request is unauthorized"),
        (403, "The caller may not run this workflow on this data"),
        (404, "Not found, or not the caller's"),
        (500, "An unexpected error occurred"),
    ]
}
router = APIRouter(prefix=answers.BASE, tags=["wes"], route_class=WesRoute, responses=_ERRORS)

PageSize = Annotated[int, Query(ge=1, le=1000, description="At most this many")]
PageToken = Annotated[
    str | None, Query(max_length=codec.MAX_LENGTH, description="From `next_page_token`")
]
WesRunPath = Annotated[str, Path(max_length=512, description="`<workflow_id>~<run_id>`")]
WesTaskPath = Annotated[str, Path(max_length=512, description="`<task_id>[~<map_index>]`")]
#: The run request's body: JSON, or the same fields as a form (the objects as JSON text).
_FORM_SCHEMA = {
    "type": "object",
    "properties": {name: {"type": "string"} for name in wes.WesRunRequest.model_fields},
    "required": [name for name, f in wes.WesRunRequest.model_fields.items() if f.is_required()],
}


def _run_of(wes_id: str) -> tuple[str, str]:
    found = ids.parse_run_id(wes_id)
    if found is None:
        raise NotFound(f"run {wes_id!r} not found")
    return found


@router.get("/service-info")
async def get_service_info(c: ContainerDep, who: CallerDep, links: LinksDep) -> wes.WesServiceInfo:
    engine = await off_loop(ENGINE, c.engine.engine_version)
    runs = await off_loop(ENGINE, c.runs.list_all, who.username)
    counts = Counter(wes.wes_state(run.status) for run in runs)
    instructions = c.settings.wes_auth_instructions_url or f"{links.base}/ui/"
    return wes.WesServiceInfo(
        id="gov.nih.nci.edrn.labcas.workflows",
        name="LabCAS Workflow API (WES)",
        type=wes.WesServiceType(group="org.ga4gh", artifact="wes", version="1.1.0"),
        description="Curated Apache Airflow workflows on the LabCAS data the caller may use",
        organization=wes.WesOrganization(
            name="Early Detection Research Network (EDRN)", url="https://edrn.nci.nih.gov/"
        ),
        version=__version__,
        workflow_type_versions={
            WORKFLOW_TYPE: wes.WesWorkflowTypeVersion(workflow_type_version=WORKFLOW_TYPE_VERSIONS)
        },
        supported_wes_versions=["1.1.0"],
        supported_filesystem_protocols=["s3"],
        workflow_engine_versions={
            engine.name: wes.WesWorkflowEngineVersion(workflow_engine_version=[engine.version])
        },
        default_workflow_engine_parameters=list[wes.WesDefaultWorkflowEngineParameter](),
        system_state_counts={state.value: counts.get(state, 0) for state in wes.WesState},
        auth_instructions_url=instructions,
        tags={"api": links.base, "workflow_url": f"{links.base}/workflows/{{workflow_id}}"},
    )


@router.get("/runs")
async def list_runs(
    c: ContainerDep,
    who: CallerDep,
    page_size: PageSize = 100,
    page_token: PageToken = None,
) -> wes.WesRunListResponse:
    page = await off_loop(
        ENGINE, c.runs.page_all, who.username, limit=page_size, cursor=page_token or None
    )
    return wes.WesRunListResponse(
        runs=[answers.summary(run) for run in page.runs], next_page_token=page.next_cursor or ""
    )


@router.post(
    "/runs", openapi_extra=request_body(wes.WesRunRequest, {f: _FORM_SCHEMA for f in FORMS})
)
async def run_workflow(
    request: Request,
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    rid: RequestIdDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> wes.WesRunId:
    with audited("run.start", who.username, rid, face="wes") as audit:
        submission = await read_submission(request, await read_body(request), links.base)
        audit.update(workflow=submission.workflow_id)
        audit["data_selection"] = submission.request.data_selection
        if submission.workflow_engine or submission.workflow_engine_version:
            submission.check_engine(await off_loop(ENGINE, c.engine.engine_version))
        started = await off_loop(
            ENGINE,
            c.runs.start,
            who.username,
            submission.workflow_id,
            submission.request,
            idempotency_key=idempotency_key,
            on_trigger=lambda run_id: audit.update(run_id=run_id),
        )
        audit.update(run_id=started.run.run_id, replayed=started.replayed)
    return wes.WesRunId(run_id=ids.run_id(submission.workflow_id, started.run.run_id))


@router.get("/runs/{run_id}")
async def get_run_log(
    run_id: WesRunPath, c: ContainerDep, who: CallerDep, links: LinksDep, rid: RequestIdDep
) -> wes.WesRunLog:
    detail = await read_run(c.runs.detail, who, rid, *_run_of(run_id))
    engine = await off_loop(ENGINE, c.engine.engine_version)
    return answers.run_log(detail, links, engine.version.split(".")[0])


@router.get("/runs/{run_id}/status")
async def get_run_status(
    run_id: WesRunPath, c: ContainerDep, who: CallerDep, rid: RequestIdDep
) -> wes.WesRunStatus:
    found = await read_run(c.runs.get, who, rid, *_run_of(run_id))
    return wes.WesRunStatus(run_id=run_id, state=wes.wes_state(found.status))


@router.post("/runs/{run_id}/cancel")
async def cancel_run(
    run_id: WesRunPath, c: ContainerDep, who: CallerDep, rid: RequestIdDep
) -> wes.WesRunId:
    workflow_id, run = _run_of(run_id)
    with audited("run.cancel", who.username, rid, workflow=workflow_id, run_id=run) as audit:
        cancelled = await off_loop(ENGINE, c.runs.cancel, who.username, workflow_id, run)
        audit["status"] = cancelled.status.value
    return wes.WesRunId(run_id=run_id)


def _place(task: TaskInstance) -> list[Any]:
    return [task.task_id, task.map_index]


def _read_place(document: Any) -> list[Any]:
    match document:
        case [str() as name, int() as index] if not isinstance(index, bool):
            return [name, index]
    raise TypeError(document)


@router.get("/runs/{run_id}/tasks")
async def list_tasks(
    run_id: WesRunPath,
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    rid: RequestIdDep,
    page_size: PageSize = 100,
    page_token: PageToken = None,
) -> wes.WesTaskListResponse:
    detail = await read_run(c.runs.detail, who, rid, *_run_of(run_id))
    tasks = detail.tasks
    if page_token:
        after = codec.decode(page_token, _read_place)
        places = [_place(task) for task in tasks]
        if after not in places:
            raise NotFound("the page token names a task this run no longer has")
        tasks = tasks[places.index(after) + 1 :]
    shown = tasks[:page_size]
    token = codec.encode(_place(shown[-1])) if len(tasks) > page_size else ""
    logs = [answers.task_log(detail.run, task, links) for task in shown]
    return wes.WesTaskListResponse(task_logs=logs, next_page_token=token)


@router.get("/runs/{run_id}/tasks/{task_id}")
async def get_task(
    run_id: WesRunPath,
    task_id: WesTaskPath,
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    rid: RequestIdDep,
) -> wes.WesTaskLog:
    detail = await read_run(c.runs.detail, who, rid, *_run_of(run_id))
    wanted = ids.parse_task_id(task_id)
    for task in detail.tasks:
        if wanted == (task.task_id, task.map_index):
            return answers.task_log(detail.run, task, links)
    raise NotFound(f"task {task_id!r} not found in run {run_id!r}")
