"""The runs of a workflow: listing with paging, one run with its tasks, task logs, cancel."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from labcas_workflow_api.audit import audited
from labcas_workflow_api.auth.jwt import Principal
from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.domain.models import RunStatus, TaskInstance
from labcas_workflow_api.http.deps import container, engine_bound, link, principal, request_id
from labcas_workflow_api.http.routes.workflows import WORKFLOW_ID, run_json
from labcas_workflow_api.service.runs import RunDetail

router = APIRouter(tags=["runs"])

RUN_ID = Path(pattern=r"^[A-Za-z0-9_.~:+\-]{1,250}$", description="Run id")
TASK_ID = Path(pattern=r"^[A-Za-z0-9_.\-]{1,250}$", description="Task id")


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def task_json(task: TaskInstance) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "map_index": task.map_index,
        "state": task.state,
        "start_time": _time(task.start_time),
        "end_time": _time(task.end_time),
        "duration": task.duration,
        "try_number": task.try_number,
    }


def detail_json(request: Request, detail: RunDetail) -> dict[str, Any]:
    done, total = detail.progress
    return {
        **run_json(request, detail.run),
        "tasks": [task_json(t) for t in detail.tasks],
        "progress": {"done": done, "total": total},
    }


@router.get("/workflows/{workflow_id}/runs")
async def list_runs(
    request: Request,
    workflow_id: str = WORKFLOW_ID,
    status: RunStatus | None = Query(None, description="Only runs in this status"),
    limit: int | None = Query(None, ge=1, le=1000, description="At most this many runs"),
    cursor: str | None = Query(None, max_length=1024, description="From a next link"),
    c: Container = Depends(container),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    page = await engine_bound(
        c.runs.page, who.username, workflow_id, status=status, limit=limit, cursor=cursor
    )
    answer: dict[str, Any] = {"runs": [run_json(request, r) for r in page.runs]}
    if page.next_cursor:
        answer["next"] = link(
            request,
            f"/workflows/{quote(workflow_id, safe='')}/runs",
            status=status.value if status else None,
            limit=limit,
            cursor=page.next_cursor,
        )
    return answer


@router.get("/workflows/{workflow_id}/runs/{run_id}")
async def get_run(
    request: Request,
    workflow_id: str = WORKFLOW_ID,
    run_id: str = RUN_ID,
    c: Container = Depends(container),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    detail = await engine_bound(c.runs.detail, who.username, workflow_id, run_id)
    return detail_json(request, detail)


@router.get("/workflows/{workflow_id}/runs/{run_id}/tasks/{task_id}/logs")
async def get_task_log(
    workflow_id: str = WORKFLOW_ID,
    run_id: str = RUN_ID,
    task_id: str = TASK_ID,
    try_number: int | None = Query(None, alias="try", ge=1, le=1000, description="Try number"),
    map_index: int | None = Query(None, ge=0, le=1_000_000, description="Map index"),
    c: Container = Depends(container),
    who: Principal = Depends(principal),
) -> StreamingResponse:
    chunks = await engine_bound(
        c.runs.log,
        who.username,
        workflow_id,
        run_id,
        task_id,
        try_number=try_number,
        map_index=map_index,
    )
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8", headers=headers)


@router.post("/workflows/{workflow_id}/runs/{run_id}/cancel")
async def cancel_run(
    request: Request,
    workflow_id: str = WORKFLOW_ID,
    run_id: str = RUN_ID,
    c: Container = Depends(container),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    rid = request_id(request)
    with audited("run.cancel", who.username, rid, workflow=workflow_id, run_id=run_id) as audit:
        run = await engine_bound(c.runs.cancel, who.username, workflow_id, run_id)
        audit["status"] = run.status.value
    return run_json(request, run)
