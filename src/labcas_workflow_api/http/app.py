"""The FastAPI app factory: routes at the root and under the stage, errors as problem+json."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from labcas_workflow_api import __version__
from labcas_workflow_api.bootstrap import Container, build_container
from labcas_workflow_api.deadline import DeadlineMiddleware
from labcas_workflow_api.domain.errors import LabcasError
from labcas_workflow_api.http.problems import (
    PROBLEM_JSON,
    RequestContextMiddleware,
    problem_body,
    problem_for,
    problem_headers,
)
from labcas_workflow_api.http.routes import data_selections, health, outputs, runs, workflows
from labcas_workflow_api.settings import Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
ROUTERS = (health.router, data_selections.router, workflows.router, runs.router, outputs.router)
log = logging.getLogger(__name__)


def _problem(status: int, body: bytes, extra: dict[str, str] | None = None) -> Response:
    headers = {k.decode(): v.decode() for k, v in problem_headers(status)} | (extra or {})
    return Response(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _on_labcas_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LabcasError)
    if exc.status >= 500:
        log.warning("%s %s -> %s: %s", request.method, request.url.path, exc.status, exc.detail)
    return _problem(*problem_for(exc))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return _problem(400, problem_body(400, "Bad request", "; ".join(problems) or "invalid"))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    detail = {404: f"no such resource: {request.url.path}"}.get(exc.status_code, str(exc.detail))
    title = titles.get(exc.status_code, "Error")
    body = problem_body(exc.status_code, title, detail)
    return _problem(exc.status_code, body, dict(exc.headers or {}))


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    """The API; ``container`` defaults to one built from ``settings`` (or the environment)."""
    container = container or build_container(settings)
    settings = container.settings
    app = FastAPI(
        title="LabCAS Workflow API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.container = container
    app.add_exception_handler(LabcasError, _on_labcas_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    prefixes = [""] + ([f"/{settings.stage}"] if settings.stage else [])
    for prefix in prefixes:
        for router in ROUTERS:
            app.include_router(router, prefix=prefix)
    if (WEB_DIR / "index.html").exists():
        for prefix in prefixes:
            app.mount(f"{prefix}/ui", StaticFiles(directory=WEB_DIR, html=True), name=f"ui{prefix}")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("ui/" if (WEB_DIR / "index.html").exists() else "healthz")

    app.add_middleware(DeadlineMiddleware, seconds=settings.request_timeout)
    app.add_middleware(
        RequestContextMiddleware,
        allowed_origins=settings.origins,
        methods_for=lambda path: _methods_for(app, path),
    )
    return app


def _methods_for(app: FastAPI, path: str) -> list[str]:
    """The methods some route serves at ``path`` (HEAD aside), for ``OPTIONS`` answers."""

    def served(method: str) -> bool:
        scope = {"type": "http", "path": path, "method": method, "root_path": ""}
        return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)

    return [m for m in ("GET", "PUT", "POST") if served(m)]
