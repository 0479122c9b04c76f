"""Data selections the caller may use, and the workflows enabled on each."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from labcas_workflow_api import wire
from labcas_workflow_api.domain.errors import BadRequest
from labcas_workflow_api.http.deps import ENGINE, CallerDep, ContainerDep, held_or_off_loop

router = APIRouter(tags=["data selections"])


@router.get("/data-selections")
async def list_data_selections(c: ContainerDep, who: CallerDep) -> wire.DataSelectionList:
    view = await held_or_off_loop(ENGINE, c.catalog.view, who.username)
    return wire.DataSelectionList(data_selections=view.data_selections)


@router.get("/data-selections/workflows")
async def list_workflows_of_selection(
    c: ContainerDep,
    who: CallerDep,
    data_id: Annotated[str | None, Query(max_length=1024)] = None,
) -> wire.WorkflowList:
    if not data_id:
        raise BadRequest("missing query parameter: data_id")
    view = await held_or_off_loop(ENGINE, c.catalog.view, who.username)
    return wire.WorkflowList(workflows=view.workflows_for_selection(data_id))


@router.get("/data-selections/{data_id:path}/workflows")
async def list_workflows_of_selection_by_path(
    data_id: str, c: ContainerDep, who: CallerDep
) -> wire.WorkflowList:
    view = await held_or_off_loop(ENGINE, c.catalog.view, who.username)
    return wire.WorkflowList(workflows=view.workflows_for_selection(data_id))
