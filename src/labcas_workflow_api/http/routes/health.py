"""Liveness and readiness, without authentication."""

from __future__ import annotations

from fastapi import APIRouter, Response

from labcas_workflow_api import wire
from labcas_workflow_api.domain.errors import LabcasError
from labcas_workflow_api.http.deps import ENGINE, STORAGE, ContainerDep, json_answer, off_loop

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> wire.Health:
    return wire.Health(status="ok")


@router.get(
    "/readyz",
    response_model=None,
    responses={
        200: {"model": wire.Readiness, "description": "Ready"},
        503: {"model": wire.Readiness, "description": "Not ready"},
    },
)
async def readyz(c: ContainerDep) -> Response:
    checks: dict[str, str] = {}
    for name, pool, probe in (
        ("config", ENGINE, c.access.get),
        ("engine", ENGINE, c.engine.ping),
        ("storage", STORAGE, lambda: c.store.ping(c.settings.staging_bucket)),
    ):
        try:
            await off_loop(pool, probe)
            checks[name] = "ok"
        except LabcasError as exc:
            checks[name] = exc.detail
    ready = all(v == "ok" for v in checks.values())
    answer = wire.Readiness(status="ready" if ready else "not ready", checks=checks)
    return json_answer(answer, 200 if ready else 503)
