"""Liveness and readiness, without authentication."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.domain.errors import LabcasError
from labcas_workflow_api.http.deps import container

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(c: Container = Depends(container)) -> JSONResponse:
    checks: dict[str, Any] = {}
    for name, probe in (
        ("config", lambda: c.access.get()),
        ("engine", c.engine.ping),
        ("storage", lambda: c.store.ping(c.settings.staging_bucket)),
    ):
        try:
            probe()
            checks[name] = "ok"
        except LabcasError as exc:
            checks[name] = exc.detail
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
