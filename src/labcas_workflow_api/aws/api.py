"""Lambda entry point of the API: every route, from API Gateway REST proxy events.

The app is built at import (reading no secret or config) so that SnapStart snapshots it; after a
restore its container is built anew, as an SDK client may hold the snapshot's credentials.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from labcas_workflow_api.aws.proxy import (
    ASGIApp,
    BadEvent,
    call_app,
    problem_result,
    request_id,
    to_request,
)
from labcas_workflow_api.logs import configure_logging

if TYPE_CHECKING:
    from labcas_workflow_api.settings import Settings

log = logging.getLogger(__name__)
configure_logging()

#: ``LABCAS_LOG_MAX_BYTES`` on Lambda unless set: an answer is at most 6,291,556 bytes of JSON,
#: where a control character takes 6 (``\u001b``), so a million bytes of any log always fit.
LAMBDA_LOG_MAX_BYTES = 1_000_000


class ApiRuntime:
    """The app and the event loop that serves it, for one Lambda container."""

    def __init__(self, app: ASGIApp, *, base_path: str = "") -> None:
        self.app = app
        self.base_path = base_path
        self.loop = asyncio.new_event_loop()

    def _run(self, coroutine: Any) -> Any:
        """Run on this runtime's loop; from a worker thread when called from async code."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.loop.run_until_complete(coroutine)
        with ThreadPoolExecutor(max_workers=1) as worker:
            return worker.submit(self.loop.run_until_complete, coroutine).result()

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """Answer one proxy event; never raises."""
        try:
            scope, body = to_request(event, context, base_path=self.base_path)
        except BadEvent as exc:
            return problem_result(400, "Bad request", str(exc))
        try:
            result: dict[str, Any] = self._run(call_app(self.app, scope, body))
        except Exception as exc:
            return _internal_error(event, "unexpected error", exc)
        return result

    def close(self) -> None:
        """Close the loop (tests, benchmarks)."""
        if not self.loop.is_closed():
            self.loop.close()


def build_runtime(settings: Settings | None = None) -> ApiRuntime:
    """The app from settings (default: the environment), logs cut at ``LAMBDA_LOG_MAX_BYTES``."""
    from labcas_workflow_api.http.app import create_app
    from labcas_workflow_api.settings import Settings

    settings = settings or Settings()
    if "log_max_bytes" not in settings.model_fields_set:
        settings = settings.model_copy(update={"log_max_bytes": LAMBDA_LOG_MAX_BYTES})
    return ApiRuntime(create_app(settings), base_path=settings.base_path)


def _internal_error(event: Any, what: str, exc: BaseException | None) -> dict[str, Any]:
    rid = request_id(event)
    log.error("%s (request id %s)", what, rid, exc_info=exc)
    return problem_result(
        500, "Internal error", f"{what}; quote request id {rid} to the operators", event
    )


def _startup_answer(event: Any, exc: Exception | None) -> dict[str, Any]:
    """The answer while the app cannot be built: the configuration that keeps it from being
    built (503), else a 500."""
    from pydantic import ValidationError

    from labcas_workflow_api.domain.errors import LabcasError

    if isinstance(exc, LabcasError):
        return problem_result(exc.status, exc.title, exc.detail, event)
    if isinstance(exc, ValidationError):
        names = sorted({"LABCAS_" + str(e["loc"][0]).upper() for e in exc.errors() if e["loc"]})
        detail = "invalid setting(s): " + ", ".join(names)
        return problem_result(503, "Service not configured", detail, event)
    return _internal_error(event, "the service could not start", exc)


_runtime: ApiRuntime | None = None
_startup_error: Exception | None = None


#: ``GET /healthz``, answered once at init so that what answering loads (anyio's backend) is in
#: the SnapStart snapshot, not on the first request after a restore.
_WARM_UP = {
    "resource": "/healthz",
    "httpMethod": "GET",
    "path": "/healthz",
    "headers": {},
    "requestContext": {
        "apiId": "init",
        "requestId": "init",
        "stage": "init",
        "accountId": "000000000000",
        "domainName": "localhost",
        "identity": {},
    },
}


def _start() -> None:
    """Build the runtime, or keep why it cannot be built (answered on every event)."""
    global _runtime, _startup_error
    try:
        runtime = build_runtime()
    except Exception as exc:
        _startup_error = exc
        log.error("cannot build the app: %s", getattr(exc, "detail", None) or repr(exc))
        return
    runtime.handle(_WARM_UP, None)
    _runtime, _startup_error = runtime, None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda handler for the API function (REST proxy integration, payload 1.0); never raises."""
    if _runtime is None:
        _start()
    if _runtime is not None:
        return _runtime.handle(event, context)
    return _startup_answer(event, _startup_error)


def _after_restore() -> None:
    """A new container from the same settings; never fails (the next event retries it)."""
    global _runtime
    state = getattr(_runtime.app, "state", None) if _runtime is not None else None
    if state is None or not hasattr(state, "container"):
        return
    try:
        from labcas_workflow_api.bootstrap import build_container

        state.container = build_container(state.container.settings)
    except Exception:
        log.exception("cannot renew the container after a restore")
        _runtime = None


def _register_after_restore() -> None:
    """Renew the container after a SnapStart restore (the hook library exists only there)."""
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return
    register_after_restore(_after_restore)


_start()
_register_after_restore()
