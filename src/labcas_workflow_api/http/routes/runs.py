"""Runs: starting, listing (all the caller's, or one workflow's), one run, task logs, cancelling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from labcas_workflow_api import wire
from labcas_workflow_api.audit import audited
from labcas_workflow_api.domain.models import RunStatus
from labcas_workflow_api.http.deps import (
    ENGINE,
    NAME,
    CallerDep,
    ContainerDep,
    Links,
    LinksDep,
    RequestIdDep,
    RunId,
    TaskId,
    WorkflowId,
    held_or_off_loop,
    json_answer,
    off_loop,
    read_body,
    read_run,
    request_body,
)
from labcas_workflow_api.service.log_pages import page_limit
from labcas_workflow_api.service.run_conf import parse_run_request
from labcas_workflow_api.service.run_pages import RunPage

router = APIRouter(tags=["runs"])
StatusQuery = Annotated[RunStatus | None, Query(description="Only runs in this status")]
LimitQuery = Annotated[int | None, Query(ge=1, le=1000, description="At most this many")]
CursorQuery = Annotated[str | None, Query(max_length=1024, description="From a next link")]


def _run_list(page: RunPage, links: Links, path: str, **query: str | int | None) -> wire.RunList:
    """The page's runs, and the link of the next page: ``path?<query>&cursor=...``."""
    following = links.to(path, **query, cursor=page.next_cursor) if page.next_cursor else None
    return wire.RunList(runs=[wire.Run.of(r, links) for r in page.runs], next=following)


@router.get("/runs")
async def list_all_runs(
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    status: StatusQuery = None,
    workflow: Annotated[
        str | None, Query(pattern=NAME, description="Only runs of this workflow")
    ] = None,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> wire.RunList:
    page = await held_or_off_loop(
        ENGINE,
        c.runs.page_all,
        who.username,
        status=status,
        workflow=workflow,
        limit=limit,
        cursor=cursor,
    )
    return _run_list(page, links, "/runs", status=status, workflow=workflow, limit=limit)


@router.get("/workflows/{workflow_id}/runs")
async def list_runs(
    workflow_id: WorkflowId,
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    status: StatusQuery = None,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> wire.RunList:
    page = await held_or_off_loop(
        ENGINE, c.runs.page, who.username, workflow_id, status=status, limit=limit, cursor=cursor
    )
    path = f"/workflows/{quote(workflow_id, safe='')}/runs"
    return _run_list(page, links, path, status=status, limit=limit)


@router.post(
    "/workflows/{workflow_id}/runs",
    status_code=201,
    response_model=None,
    responses={
        200: {"model": wire.DryRun, "description": "Dry run: the conf that would be sent"},
        201: {"model": wire.StartedRun, "description": "Started"},
    },
    openapi_extra=request_body(wire.RunRequest, {"text/plain": {"type": "string"}}),
)
async def start_run(
    request: Request,
    workflow_id: WorkflowId,
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    rid: RequestIdDep,
    dry_run: Annotated[bool, Query(description="Validate only; answer the conf")] = False,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    action = "run.validate" if dry_run else "run.start"
    with audited(action, who.username, rid, workflow=workflow_id) as audit:
        run_request = parse_run_request(await read_body(request), workflow_id)
        audit["data_selection"] = run_request.data_selection
        started = await off_loop(
            ENGINE,
            c.runs.start,
            who.username,
            workflow_id,
            run_request,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            on_trigger=lambda run_id: audit.update(run_id=run_id),
        )
        audit.update(run_id=started.run.run_id, replayed=started.replayed)
    if dry_run:
        return json_answer(wire.DryRun.of_started(started, links))
    headers = {"Idempotency-Replayed": "true"} if started.replayed else {}
    return json_answer(wire.StartedRun.of(started.run, links), 201, headers)


@router.get("/workflows/{workflow_id}/runs/{run_id}")
async def get_run(
    workflow_id: WorkflowId,
    run_id: RunId,
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    rid: RequestIdDep,
) -> wire.RunDetail:
    detail = await read_run(c.runs.detail, who, rid, workflow_id, run_id)
    return wire.RunDetail.of_detail(detail, links)


#: The largest page of a task log a client may ask for (``max_bytes``): it is held in memory.
MAX_LOG_PAGE = 16 * 1024 * 1024
_TEXT = "text/plain; charset=utf-8"


@router.get(
    "/workflows/{workflow_id}/runs/{run_id}/tasks/{task_id}/logs", response_class=PlainTextResponse
)
async def get_task_log(
    workflow_id: WorkflowId,
    run_id: RunId,
    task_id: TaskId,
    c: ContainerDep,
    who: CallerDep,
    rid: RequestIdDep,
    links: LinksDep,
    try_number: Annotated[
        int | None, Query(alias="try", ge=1, le=1000, description="Try number")
    ] = None,
    map_index: Annotated[int | None, Query(ge=0, le=1_000_000, description="Map index")] = None,
    offset: Annotated[
        int, Query(ge=0, le=10**12, description="Start at this byte of the log (a next link's)")
    ] = 0,
    max_bytes: Annotated[
        int | None,
        Query(ge=1024, le=MAX_LOG_PAGE, description="At most this many bytes of the log"),
    ] = None,
) -> Response:
    limit = page_limit(max_bytes, c.settings.log_max_bytes)
    task = {"task_id": task_id, "try_number": try_number, "map_index": map_index}
    with audited("log.read", who.username, rid, workflow=workflow_id, run_id=run_id, task=task):
        page = await off_loop(
            ENGINE,
            c.runs.log,
            who.username,
            workflow_id,
            run_id,
            task_id,
            try_number=try_number,
            map_index=map_index,
            offset=offset,
            limit=limit,
        )

    def rest() -> str:
        path = "/".join(quote(p, safe="") for p in ("workflows", workflow_id, "runs", run_id))
        query = {"try": page.try_number or try_number, "map_index": map_index}
        query |= {"offset": page.next_offset, "max_bytes": max_bytes}
        return links.to(f"/{path}/tasks/{quote(task_id, safe='')}/logs", **query)

    headers = {"Cache-Control": "no-store"}  # nosniff: the security headers, on every answer
    if limit is None:

        async def streamed() -> AsyncIterator[bytes]:
            chunks = iter(page)
            while (chunk := await off_loop(ENGINE, next, chunks, None)) is not None:
                yield chunk
            if page.next_offset is not None:
                yield page.note(rest())

        return StreamingResponse(streamed(), media_type=_TEXT, headers=headers)
    body = await off_loop(ENGINE, page.read)
    if page.next_offset is not None:
        link = rest()
        headers["Link"] = f'<{link}>; rel="next"'
        body += page.note(link)
    return Response(body, media_type=_TEXT, headers=headers)


@router.post("/workflows/{workflow_id}/runs/{run_id}/cancel")
async def cancel_run(
    workflow_id: WorkflowId,
    run_id: RunId,
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    rid: RequestIdDep,
) -> wire.Run:
    with audited("run.cancel", who.username, rid, workflow=workflow_id, run_id=run_id) as audit:
        run = await off_loop(ENGINE, c.runs.cancel, who.username, workflow_id, run_id)
        audit["status"] = run.status.value
    return wire.Run.of(run, links)
