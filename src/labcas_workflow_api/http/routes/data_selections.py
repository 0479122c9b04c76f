"""Data selections the caller may use, and the workflows enabled on each."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from labcas_workflow_api.auth.jwt import Principal
from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.domain.errors import BadRequest
from labcas_workflow_api.http.deps import container, engine_bound, principal
from labcas_workflow_api.service.catalog import Entry

router = APIRouter(tags=["data selections"])


def entries(items: list[Entry]) -> list[dict[str, Any]]:
    return [{"id": e.id, "description": e.description} for e in items]


@router.get("/data-selections")
async def list_data_selections(
    c: Container = Depends(container), who: Principal = Depends(principal)
) -> dict[str, Any]:
    found = await engine_bound(c.catalog.data_selections, who.username)
    return {"data_selections": entries(found)}


@router.get("/data-selections/workflows")
async def list_workflows_of_selection(
    data_id: str | None = Query(None, max_length=1024),
    c: Container = Depends(container),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    if not data_id:
        raise BadRequest("missing query parameter: data_id")
    found = await engine_bound(c.catalog.workflows_for_selection, who.username, data_id)
    return {"workflows": entries(found)}


@router.get("/data-selections/{data_id:path}/workflows")
async def list_workflows_of_selection_by_path(
    data_id: str, c: Container = Depends(container), who: Principal = Depends(principal)
) -> dict[str, Any]:
    found = await engine_bound(c.catalog.workflows_for_selection, who.username, data_id)
    return {"workflows": entries(found)}
