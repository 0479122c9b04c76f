"""WES's error shape on every WES route: the app's own answer (status, text, headers, logging)
reshaped as ``WesErrorResponse``, so one rule says what a caller reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from labcas_workflow_api.domain.errors import BadRequest
from labcas_workflow_api.http.deps import json_answer
from labcas_workflow_api.http.problems import problem_for, problem_response
from labcas_workflow_api.wire.wes import WesErrorResponse

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
    """The app's answer to ``exc`` (its handler's, else ``problem_for``'s) in WES's shape."""
    handlers = request.app.exception_handlers
    handler = next((handlers[kind] for kind in type(exc).__mro__ if kind in handlers), None)
    if handler is None:
        problem = problem_response(*problem_for(exc, request.scope))
    else:
        problem = await handler(request, exc)
    body: dict[str, Any] = json.loads(bytes(problem.body))
    headers = {k: v for k, v in problem.headers.items() if k.lower() not in _DROPPED}
    answer = WesErrorResponse(msg=str(body.get("detail", "")), status_code=problem.status_code)
    return json_answer(answer, problem.status_code, headers)
