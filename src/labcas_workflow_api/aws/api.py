"""Lambda entry point of the API: every route, from API Gateway REST proxy events.

The FastAPI app and its container are built on the first event and kept for the lifetime of
the Lambda container; importing this module costs only the standard library.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from labcas_workflow_api.aws.events import event_headers
from labcas_workflow_api.aws.proxy import (
    ASGIApp,
    BadEvent,
    Lifespan,
    call_app,
    problem_result,
    to_request,
)
from labcas_workflow_api.logs import configure_logging

log = logging.getLogger(__name__)
configure_logging()


class ApiRuntime:
    """The app, its lifespan state and the event loop that serves it, for one container."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.lifespan = Lifespan(app)
        self._run(self.lifespan.startup())

    def _run(self, coroutine: Any) -> Any:
        """Run on this runtime's loop; from a worker thread when the calling thread already runs
        an event loop (never on Lambda; happens when the handler is called from async code)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.loop.run_until_complete(coroutine)
        with ThreadPoolExecutor(max_workers=1) as worker:
            return worker.submit(self.loop.run_until_complete, coroutine).result()

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """Answer one proxy event; never raises."""
        try:
            request = to_request(event, context)
        except BadEvent as exc:
            return problem_result(400, "Bad request", str(exc))
        try:
            answer = call_app(self.app, request, self.lifespan.state)
            response = self._run(answer)
        except Exception:
            request_id = _request_id(event)
            log.exception("unexpected error (request id %s)", request_id)
            return problem_result(
                500,
                "Internal error",
                f"unexpected error; quote request id {request_id} to the operators",
                allow_origin=_allow_origin(event),
            )
        result: dict[str, Any] = response.to_proxy_result()
        return result

    def close(self) -> None:
        """Shut the app's lifespan down and close the loop (tests, benchmarks)."""
        if not self.loop.is_closed():
            self._run(self.lifespan.shutdown())
            self.loop.close()


def build_runtime() -> ApiRuntime:
    """The app from the environment (``LABCAS_*`` settings), as the standalone server builds it."""
    from labcas_workflow_api.http.app import create_app

    return ApiRuntime(create_app())


_runtime: ApiRuntime | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda handler for the API function (REST proxy integration, payload 1.0)."""
    global _runtime
    if _runtime is None:
        try:
            _runtime = build_runtime()
        except Exception as exc:
            detail = _startup_problem(exc)
            log.exception("cannot build the app: %s", detail)
            return problem_result(
                500, "Configuration error", str(detail), allow_origin=_allow_origin(event)
            )
    return _runtime.handle(event, context)


def _startup_problem(exc: Exception) -> str:
    """What to tell the caller when the app cannot be built: the bad setting, never internals."""
    from pydantic import ValidationError

    from labcas_workflow_api.domain.errors import LabcasError

    if isinstance(exc, LabcasError):
        return exc.detail
    if isinstance(exc, ValidationError):
        names = sorted({"LABCAS_" + str(e["loc"][0]).upper() for e in exc.errors() if e["loc"]})
        return "invalid setting(s): " + ", ".join(names)
    return "the service could not start; see the function's log"


def _request_id(event: Any) -> str:
    context = event.get("requestContext") if isinstance(event, dict) else None
    request_id = context.get("requestId") if isinstance(context, dict) else None
    return str(request_id) if request_id else uuid.uuid4().hex


def _allow_origin(event: Any) -> str | None:
    """The CORS origin for answers made outside the app: the request's Origin when it is the
    ``allowOrigin`` stage variable (or that variable is ``*``)."""
    if not isinstance(event, dict):
        return None
    variables = event.get("stageVariables")
    allowed = variables.get("allowOrigin") if isinstance(variables, dict) else None
    origin = dict(event_headers(event)).get("origin")
    if not isinstance(allowed, str) or not origin:
        return None
    if allowed == "*":
        return "*"
    return origin if origin in {o.strip() for o in allowed.split(",")} else None
