"""WES's error shape on every WES route: ``{"msg", "status_code"}`` (``WesErrorResponse``).

The answer is worked out by the app's own error handlers, as for every other route (the same
status, text, headers and logging), then reshaped: one rule for what a caller reads, two
shapes of it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from labcas_workflow_api.domain.errors import BadRequest
from labcas_workflow_api.http.problems import request_id_of
from labcas_workflow_api.wire.wes import WesErrorResponse

log = logging.getLogger("labcas_workflow_api.http")
_DROPPED = {"content-type", "content-length"}


class WesRoute(APIRoute):
    """A route whose errors answer ``WesErrorResponse`` instead of problem+json, and which
    refuses a query parameter it does not take (400; its dependencies take none)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = {param.alias for param in self.dependant.query_params}

        async def answer(request: Request) -> Response:
            try:
                unknown = sorted(set(request.query_params) - known)
                if unknown:
                    raise BadRequest(f"unknown query parameter {unknown[0]!r}")
                return await handler(request)
            except Exception as exc:
                return await wes_error(request, exc)

        return answer


async def wes_error(request: Request, exc: Exception) -> Response:
    """The app's answer to ``exc`` in WES's shape (an unexpected error: a 500 quoting the
    request id its traceback is logged under)."""
    problem = await _problem(request, exc)
    if problem is None:
        rid = request_id_of(request.scope)
        log.exception("unexpected error (request id %s)", rid)
        text = f"unexpected error; quote request id {rid} to the operators"
        return error_answer(500, text)
    body: dict[str, Any] = json.loads(bytes(problem.body))
    headers = {k: v for k, v in problem.headers.items() if k.lower() not in _DROPPED}
    return error_answer(problem.status_code, str(body.get("detail", "")), headers)


def error_answer(status: int, msg: str, headers: dict[str, str] | None = None) -> Response:
    body = WesErrorResponse(msg=msg, status_code=status).model_dump_json()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def _problem(request: Request, exc: Exception) -> Response | None:
    handlers = request.app.exception_handlers
    for kind in type(exc).__mro__:
        handler = handlers.get(kind)
        if handler is not None:
            answer: Response = await handler(request, exc)
            return answer
    return None
