"""What the HTTP app and the Lambda handlers share at the edge (standard library only, cheap to
import): trusted scope keys, the problem+json body, the user-name rule, the CORS origin check."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

#: ASGI scope keys set by the Lambda adapter only (an HTTP client cannot set scope keys)
TRUSTED_USERNAME_KEY = "labcas.username"
REQUEST_ID_KEY = "labcas.request_id"
ALLOW_ORIGIN_KEY = "labcas.allow_origin"

PROBLEM_JSON = "application/problem+json"

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_username(value: object) -> bool:
    """The user-name rule: letters, digits, ``.``, ``_``, ``-``, at most 64 characters, not
    starting with punctuation; the whole value (a trailing newline is not a name)."""
    return isinstance(value, str) and _USERNAME.fullmatch(value) is not None


def problem_body(status: int, title: str, detail: str, **extra: Any) -> bytes:
    """An RFC 9457 problem+json body."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return json.dumps(body).encode()


def split_origins(value: object) -> list[str]:
    """A comma-separated origin list (a setting, the ``allowOrigin`` stage variable)."""
    if not isinstance(value, str):
        return []
    return [o.strip() for o in value.split(",") if o.strip()]


def allowed_origin(origin: str | None, allowed: Collection[str]) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for ``origin``, or None (no CORS headers)."""
    if not origin:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None
