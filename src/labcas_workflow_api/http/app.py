"""The FastAPI app factory: routes at the root and under the stage, errors as problem+json."""

from __future__ import annotations

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
from labcas_workflow_api.domain.errors import BadRequest
from labcas_workflow_api.edge import problem_body
from labcas_workflow_api.http.problems import (
    RequestContextMiddleware,
    problem_for,
    problem_response,
    request_id_of,
)
from labcas_workflow_api.http.routes import (
    data_selections,
    health,
    outputs,
    provenance,
    runs,
    workflows,
)
from labcas_workflow_api.http.security_headers import SecurityHeaders, config_endpoint
from labcas_workflow_api.http.wes import routes as wes
from labcas_workflow_api.settings import Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
ROUTERS = tuple(
    m.router for m in (health, data_selections, workflows, runs, outputs, provenance, wes)
)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return problem_response(
        *problem_for(BadRequest("; ".join(problems) or "invalid"), request.scope)
    )


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
    detail = f"no such resource: {request.url.path}" if exc.status_code == 404 else str(exc.detail)
    body = problem_body(exc.status_code, title, detail, request_id=request_id_of(request.scope))
    return problem_response(exc.status_code, body, dict(exc.headers or {}))


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    allowed_hosts: list[str] | None = None,
    access_log: bool = False,
) -> FastAPI:
    """The API; ``container`` defaults to one built from ``settings`` (or the environment). The
    standalone server passes ``allowed_hosts``, the ``Host`` values links may be built from when
    no public URL is set (on Lambda the adapter sets a trusted host), and ``access_log``."""
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
    app.state.allowed_hosts = allowed_hosts
    # answers link to the web app's pages (``web_url``) when /ui/ serves it
    app.state.web_app = (WEB_DIR / "index.html").exists()
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    prefixes = [""] + ([f"/{settings.stage}"] if settings.stage else [])
    config_js = config_endpoint(settings)
    for prefix in prefixes:
        for router in ROUTERS:
            app.include_router(router, prefix=prefix)
        if app.state.web_app:
            app.add_route(f"{prefix}/ui/config.js", config_js, include_in_schema=False)
            app.mount(f"{prefix}/ui", StaticFiles(directory=WEB_DIR, html=True), name=f"ui{prefix}")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("ui/" if app.state.web_app else "healthz")

    app.add_middleware(DeadlineMiddleware, seconds=settings.request_timeout)
    app.add_middleware(
        RequestContextMiddleware,
        allowed_origins=settings.origins,
        methods_for=lambda path: _methods_for(app, path),
        security=SecurityHeaders(settings, [f"{p}/ui" for p in prefixes]),
        access_log=access_log,
    )
    return app


def _methods_for(app: FastAPI, path: str) -> list[str]:
    """The methods some route serves at ``path`` (HEAD aside), for ``OPTIONS`` answers."""

    def served(method: str) -> bool:
        scope = {"type": "http", "path": path, "method": method, "root_path": ""}
        return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)

    return [m for m in ("GET", "PUT", "POST") if served(m)]
