"""The ``mwaa`` transport: each Airflow REST request through ``InvokeRestApi``."""

from __future__ import annotations

import ast
import json
from typing import Any

import httpx

from labcas_workflow_api.domain.errors import UpstreamBadResponse
from labcas_workflow_api.engines.mwaa.environment import THROTTLING, MwaaEnvironment, client_error

#: The longest ``Path`` that ``InvokeRestApi`` takes (``RestApiPath`` in the service model).
MAX_PATH = 64
_API_PREFIXES = ("/api/v1", "/api/v2")


class InvokeRestApiTransport(httpx.BaseTransport):
    """Sends each Airflow REST request through ``InvokeRestApi``, with the client that fits the
    request deadline; a ``Path`` longer than ``MAX_PATH`` (a task log, a cancel) goes to
    ``long_paths`` (the web-login transport) instead.

    Airflow's answer becomes the response whether AWS returned it or raised it
    (``RestApiClientException``: its 4xx; ``RestApiServerException``: its 5xx, 502 if none);
    throttling becomes a 503, connection failures httpx's errors, other AWS errors ours. AWS
    calls Airflow with credentials of its own: a refusal is passed on, nothing to renew."""

    def __init__(self, environment: MwaaEnvironment, *, long_paths: httpx.BaseTransport) -> None:
        self.environment = environment
        self.long_paths = long_paths

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        from botocore import exceptions as aws

        path = _api_path(request)
        if len(path) > MAX_PATH:
            return self.long_paths.handle_request(request)
        kwargs: dict[str, Any] = {"Path": path, "Method": request.method}
        query = query_parameters(request)
        if query:
            kwargs["QueryParameters"] = query
        if request.content:
            try:
                kwargs["Body"] = json.loads(request.content)
            except ValueError as exc:
                raise UpstreamBadResponse("InvokeRestApi takes JSON bodies only") from exc
        method = self.environment.clients.get().invoke_rest_api
        try:
            answer = method(Name=self.environment.name, **kwargs)
        except aws.ClientError as exc:
            return self._error_response(exc, request)
        except (aws.EndpointConnectionError, aws.ConnectTimeoutError) as exc:
            raise httpx.ConnectError(f"cannot reach MWAA: {exc}", request=request) from exc
        except aws.ReadTimeoutError as exc:
            raise httpx.ReadTimeout(f"MWAA did not answer: {exc}", request=request) from exc
        status = answer.get("RestApiStatusCode")
        if not isinstance(status, int):
            raise UpstreamBadResponse("MWAA InvokeRestApi answer has no RestApiStatusCode")
        return _response(status, answer.get("RestApiResponse"), request)

    def close(self) -> None:
        self.long_paths.close()

    def _error_response(self, exc: Any, request: httpx.Request) -> httpx.Response:
        code = str((exc.response.get("Error") or {}).get("Code", ""))
        status = exc.response.get("RestApiStatusCode")
        body = exc.response.get("RestApiResponse")
        if code == "RestApiClientException":
            return _response(status if isinstance(status, int) else 400, body, request)
        if code == "RestApiServerException":
            server = status if isinstance(status, int) and status >= 500 else 502
            return _response(server, body, request)
        if code in THROTTLING or code == "InternalServerException":
            detail = f"MWAA answered {code}"
            return _response(503 if code in THROTTLING else 502, {"detail": detail}, request)
        raise client_error(exc, "InvokeRestApi", self.environment.name) from exc


def _api_path(request: httpx.Request) -> str:
    path = request.url.raw_path.decode("ascii").split("?", 1)[0]
    for prefix in _API_PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    raise UpstreamBadResponse(f"not an Airflow REST API path: {path}")


def query_parameters(request: httpx.Request) -> dict[str, str | list[str]]:
    """The request's query as ``QueryParameters``: a repeated key becomes a list."""
    query: dict[str, str | list[str]] = {}
    for key in request.url.params:
        values = request.url.params.get_list(key)
        query[key] = values[0] if len(values) == 1 else values
    return query


def _response(status: int, body: Any, request: httpx.Request) -> httpx.Response:
    """An httpx response with Airflow's JSON answer, or the log text the request asked for."""
    accept = request.headers.get("Accept", "")
    if isinstance(body, dict) and 200 <= status < 300 and "content" in body:
        if accept == "text/plain":
            return httpx.Response(status, text=_log_text(body["content"]), request=request)
        if accept == "application/x-ndjson" and isinstance(body["content"], list):
            lines = "".join(json.dumps(record) + "\n" for record in body["content"])
            return httpx.Response(status, text=lines, request=request)
    if body is None:
        return httpx.Response(status, request=request)
    return httpx.Response(status, json=body, request=request)


def _log_text(content: Any) -> str:
    """Airflow 2's JSON log ``content``: the ``repr`` of ``[(host, text), ...]``, or text."""
    if not isinstance(content, str):
        return json.dumps(content)
    try:
        parts = ast.literal_eval(content)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return content
    if isinstance(parts, list) and all(isinstance(p, tuple) and len(p) == 2 for p in parts):
        return "".join(str(text) for _, text in parts)
    return content
