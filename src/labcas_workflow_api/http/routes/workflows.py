"""Workflows the caller may run, with their parameters."""

from __future__ import annotations

from fastapi import APIRouter

from labcas_workflow_api import wire
from labcas_workflow_api.http.deps import (
    ENGINE,
    CallerDep,
    ContainerDep,
    WorkflowId,
    held_or_off_loop,
)

router = APIRouter(tags=["workflows"])


@router.get("/workflows")
async def list_workflows(c: ContainerDep, who: CallerDep) -> wire.WorkflowList:
    view = await held_or_off_loop(ENGINE, c.catalog.view, who.username)
    return wire.WorkflowList(workflows=view.workflows)


@router.get("/workflows/{workflow_id}")
async def get_workflow(
    workflow_id: WorkflowId, c: ContainerDep, who: CallerDep
) -> wire.WorkflowDetail:
    found = await held_or_off_loop(ENGINE, c.catalog.workflow, who.username, workflow_id)
    return wire.WorkflowDetail.of(found)
