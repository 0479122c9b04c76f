"""A run's provenance as a Workflow Run RO-Crate: its JSON-LD metadata, or the crate as a zip."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from labcas_workflow_api.audit import audited
from labcas_workflow_api.http.deps import (
    ENGINE,
    STORAGE,
    CallerDep,
    ContainerDep,
    LinksDep,
    RequestIdDep,
    RunId,
    WorkflowId,
    off_loop,
)
from labcas_workflow_api.service import provenance_crate

router = APIRouter(tags=["runs"])

JSON_LD = "application/ld+json"
ZIP = "application/zip"
#: The JSON-LD document's shape, as far as this API promises it (the rest is RO-Crate's).
RO_CRATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["@context", "@graph"],
    "properties": {
        "@context": {"type": "string"},
        "@graph": {"type": "array", "items": {"type": "object"}},
    },
}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The run's RO-Crate: its metadata (JSON-LD), or the whole crate (zip)",
        "content": {
            JSON_LD: {"schema": RO_CRATE_SCHEMA},
            ZIP: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _wants_zip(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "zip"
    accept = request.headers.get("accept", "")
    return ZIP in accept and JSON_LD not in accept and "application/json" not in accept


@router.get(
    "/workflows/{workflow_id}/runs/{run_id}/ro-crate",
    response_class=Response,
    responses=_ANSWERS,
)
async def get_ro_crate(
    request: Request,
    workflow_id: WorkflowId,
    run_id: RunId,
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    rid: RequestIdDep,
    format: Annotated[
        Literal["json", "zip"] | None,
        Query(description="`zip`: the whole crate; `json` (default): its metadata"),
    ] = None,
) -> Response:
    zipped = _wants_zip(request, format)
    kind = "zip" if zipped else "json"
    with audited(
        "run.provenance", who.username, rid, workflow=workflow_id, run_id=run_id, format=kind
    ) as audit:
        facts = await off_loop(ENGINE, c.provenance.facts, who.username, workflow_id, run_id)
        outputs = await off_loop(STORAGE, c.provenance.outputs, facts.run)
        audit.update(files=len(outputs.files), complete=outputs.complete)
    record = c.provenance.record(facts, outputs)
    headers = {"Cache-Control": "no-store"}
    if zipped:
        body = await off_loop(STORAGE, provenance_crate.zipped, record, links.base)
        name = f"{run_id}-ro-crate.zip"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(body, media_type=ZIP, headers=headers)
    body = await off_loop(STORAGE, provenance_crate.metadata, record, links.base)
    return Response(body, media_type=JSON_LD, headers=headers)
