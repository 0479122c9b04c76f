"""Reading API Gateway REST events (payload 1.0), trusting only what API Gateway itself sets;
standard library only, cheap to import. Nothing here raises on any event."""

from __future__ import annotations

import re
import uuid
from typing import Any

from labcas_workflow_api.edge import (
    ALLOW_ORIGIN_KEY,
    PROBLEM_JSON,
    REQUEST_ID_KEY,
    TRUSTED_USERNAME_KEY,
    allowed_origin,
    is_username,
    problem_body,
    split_origins,
)

#: ``requestContext`` fields API Gateway always sets on a REST proxy event
_CONTEXT_KEYS = ("apiId", "requestId", "stage", "accountId", "domainName")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
_DOMAIN = re.compile(r"[A-Za-z0-9.-]{1,253}")
_ROOT_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)*")


def pairs(event: Any, multi_key: str, single_key: str) -> list[tuple[Any, Any]]:
    """The pairs of ``event[multi_key]`` when it has any, else of ``event[single_key]``."""
    multi = event.get(multi_key) if isinstance(event, dict) else None
    single = event.get(single_key) if isinstance(event, dict) else None
    if isinstance(multi, dict) and multi:
        return [
            (name, value)
            for name, values in multi.items()
            for value in (values if isinstance(values, list) else [values])
        ]
    return list(single.items()) if isinstance(single, dict) else []


def event_headers(event: Any) -> list[tuple[str, str]]:
    """Request headers, names lower-cased; non-token names and non-string values left out."""
    return [
        (name.lower(), value)
        for name, value in pairs(event, "multiValueHeaders", "headers")
        if isinstance(name, str) and _HEADER_NAME.fullmatch(name) and isinstance(value, str)
    ]


def single_header(event: Any, name: str) -> str | None:
    """A header's value; None when absent or sent more than once."""
    values = [v for k, v in event_headers(event) if k == name]
    return values[0] if len(values) == 1 else None


def _context(event: Any) -> dict[str, Any]:
    context = event.get("requestContext") if isinstance(event, dict) else None
    return context if isinstance(context, dict) else {}


def is_api_gateway_event(event: Any) -> bool:
    """True for the shape API Gateway itself produces for a REST proxy integration."""
    context = _context(event)
    return (
        isinstance(event, dict)
        and isinstance(event.get("httpMethod"), str)
        and isinstance(event.get("path"), str)
        and all(isinstance(context.get(k), str) and context[k] for k in _CONTEXT_KEYS)
        and _DOMAIN.fullmatch(context["domainName"]) is not None
        and isinstance(context.get("identity"), dict)
    )


def trusted_username(event: Any) -> str | None:
    """The username our authorizer put in ``requestContext.authorizer``; never from a header."""
    if not is_api_gateway_event(event):
        return None
    authorizer = _context(event).get("authorizer")
    if not isinstance(authorizer, dict):
        return None
    username = authorizer.get("username")
    if is_username(username) and authorizer.get("principalId") == username:
        return str(username)
    return None


def request_id(event: Any) -> str:
    """API Gateway's request id (the one in its access log), else a new one."""
    value = _context(event).get("requestId")
    return value if isinstance(value, str) and value else uuid.uuid4().hex


def stage_allow_origin(event: Any) -> str | None:
    """The ``allowOrigin`` stage variable."""
    variables = event.get("stageVariables") if isinstance(event, dict) else None
    value = variables.get("allowOrigin") if isinstance(variables, dict) else None
    return value if isinstance(value, str) else None


def trusted_scope(event: Any) -> dict[str, str]:
    """The ``labcas.*`` ASGI scope keys: username, request id, ``allowOrigin`` stage variable."""
    scope = {REQUEST_ID_KEY: request_id(event)}
    username = trusted_username(event)
    if username:
        scope[TRUSTED_USERNAME_KEY] = username
    origins = stage_allow_origin(event)
    if origins is not None:
        scope[ALLOW_ORIGIN_KEY] = origins
    return scope


def route(event: dict[str, Any], base_path: str = "") -> tuple[str, str]:
    """The path to route (less the custom domain's ``base_path``) and the root path the client
    used before it (``/dev``, the base path, or nothing), from ``requestContext.path``."""
    path = event["path"] or "/"
    base = "/" + base_path.strip("/") if base_path.strip("/") else ""
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :] or "/"
    context = _context(event)
    used = context.get("path")
    if isinstance(used, str) and used.endswith(path):
        root = used[: len(used) - len(path)].rstrip("/")
    elif ".execute-api." in context["domainName"]:
        root = "/" + context["stage"]
    else:
        root = base
    return path, (root if _ROOT_PATH.fullmatch(root) else "")


def problem_result(
    status: int, title: str, detail: str, *, allow_origin: str | None = None
) -> dict[str, Any]:
    """A proxy result with a problem+json body, for answers made outside the app."""
    headers = {"Content-Type": [PROBLEM_JSON]}
    if allow_origin:
        headers["Access-Control-Allow-Origin"] = [allow_origin]
        headers["Vary"] = ["Origin"]
    return {
        "statusCode": status,
        "multiValueHeaders": headers,
        "body": problem_body(status, title, detail).decode(),
        "isBase64Encoded": False,
    }


def answer_origin(event: Any) -> str | None:
    """The request's ``Origin`` when the ``allowOrigin`` stage variable allows it."""
    origin = single_header(event, "origin")
    return allowed_origin(origin, split_origins(stage_allow_origin(event)))
