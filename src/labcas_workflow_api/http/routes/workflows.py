"""Workflows the caller may run, their parameters, and starting runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from labcas_workflow_api.audit import audited
from labcas_workflow_api.auth.jwt import Principal
from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.domain.errors import LabcasError
from labcas_workflow_api.domain.models import Parameter, Run
from labcas_workflow_api.http.deps import (
    container,
    engine_bound,
    output_link,
    principal,
    request_id,
)
from labcas_workflow_api.http.routes.data_selections import entries
from labcas_workflow_api.service.runs import (
    output_path,
    parse_run_request,
    public_conf,
    requires_value,
)

router = APIRouter(tags=["workflows"])

WORKFLOW_ID = Path(pattern=r"^[A-Za-z0-9_.\-]{1,250}$", description="Workflow (DAG) id")
MAX_BODY = 256 * 1024
FORM_KEYS = (
    "type",
    "title",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "items",
    "minItems",
    "maxItems",
)


class PayloadTooLarge(LabcasError):
    status = 413
    title = "Payload too large"


def run_json(request: Request, run: Run) -> dict[str, Any]:
    folder = output_path(run)
    return {
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "status": run.status.value,
        "start_time": run.start_time.isoformat() if run.start_time else None,
        "end_time": run.end_time.isoformat() if run.end_time else None,
        "output_url": output_link(request, folder) if folder else None,
        "conf": public_conf(run.conf),
    }


def parameter_json(parameter: Parameter) -> dict[str, Any]:
    """A parameter for form building: its default, description and JSON Schema, with the
    schema's type, title, enum, bounds and format also at the top level when it has them."""
    lifted = {k: parameter.schema[k] for k in FORM_KEYS if k in parameter.schema}
    return {
        **lifted,
        "default": parameter.default,
        "description": parameter.description,
        "required": requires_value(parameter),
        "schema": parameter.schema,
    }


@router.get("/workflows")
async def list_workflows(
    c: Container = Depends(container), who: Principal = Depends(principal)
) -> dict[str, Any]:
    return {"workflows": entries(await engine_bound(c.catalog.workflows, who.username))}


@router.get("/workflows/{workflow_id}")
async def get_workflow(
    workflow_id: str = WORKFLOW_ID,
    c: Container = Depends(container),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    view = await engine_bound(c.catalog.workflow, who.username, workflow_id)
    workflow = view.workflow
    return {
        "id": workflow.id,
        "description": workflow.description,
        "parameters": {name: parameter_json(p) for name, p in workflow.parameters.items()},
        "schedule": workflow.schedule,
        "paused": workflow.paused,
        "data_selections": view.data_selections,
    }


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "0")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge(f"request body over {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"request body over {MAX_BODY} bytes")
    return body


@router.post("/workflows/{workflow_id}/runs", status_code=201)
async def start_run(
    request: Request,
    workflow_id: str = WORKFLOW_ID,
    dry_run: bool = Query(False, description="Validate only; answer the conf that would be sent"),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    c: Container = Depends(container),
    who: Principal = Depends(principal),
) -> JSONResponse:
    body = await read_body(request)
    action = "run.validate" if dry_run else "run.start"
    with audited(action, who.username, request_id(request), workflow=workflow_id) as audit:
        run_request = parse_run_request(body, workflow_id)
        audit["data_selection"] = run_request.data_selection
        started = await engine_bound(
            c.runs.start,
            who.username,
            workflow_id,
            run_request,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            on_trigger=lambda run_id: audit.update(run_id=run_id),
        )
        audit.update(run_id=started.run.run_id, replayed=started.replayed)
    answer = run_json(request, started.run)
    if dry_run:
        return JSONResponse({**answer, "dry_run": True, "conf": started.conf}, status_code=200)
    answer = {k: answer[k] for k in ("run_id", "workflow_id", "status", "output_url")}
    headers = {"Idempotency-Replayed": "true"} if started.replayed else {}
    return JSONResponse(answer, status_code=201, headers=headers)
