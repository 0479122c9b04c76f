"""Liveness and readiness, without authentication: they say which part fails, never how (the
details are logged under the request id)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from labcas_workflow_api import wire
from labcas_workflow_api.domain.errors import LabcasError
from labcas_workflow_api.http.deps import (
    ENGINE,
    STORAGE,
    ContainerDep,
    RequestIdDep,
    json_answer,
    off_loop,
)

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


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
async def readyz(c: ContainerDep, rid: RequestIdDep) -> Response:
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
            log.warning("readiness: %s failed (request id %s): %s", name, rid, exc.detail)
            checks[name] = "failed"
    if checks["config"] == "ok" and c.access.last_error:
        log.warning(
            "readiness: the access config does not load, the last good one is in use "
            "(request id %s): %s",
            rid,
            c.access.last_error,
        )
        checks["config"] = "last good"
    ready = all(v != "failed" for v in checks.values())
    answer = wire.Readiness(
        status="ready" if ready else "not ready",
        checks=wire.ReadinessChecks.model_validate(checks),
        request_id=None if all(v == "ok" for v in checks.values()) else rid,
    )
    return json_answer(answer, 200 if ready else 503)
