"""Request bodies as JSON, strictly: what Python's parser lets through but nothing downstream
can carry (``NaN``, ``Infinity``, numbers too large for a float, lone UTF-16 surrogates) is a
``BadRequest`` naming where it is."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from labcas_workflow_api.domain.errors import BadRequest

#: what UTF-8 cannot encode (``json.loads`` joins an escaped valid pair into one character)
_SURROGATE = re.compile("[\ud800-\udfff]")


class _NotANumber(float):
    """What the parser makes of ``NaN``, ``Infinity`` and ``-Infinity``, to be named later."""


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body`` (``None`` for an empty body); BadRequest when it is not
    valid JSON, or holds a value no JSON consumer accepts, naming the field."""
    try:
        document = json.loads(body or b"null", parse_constant=_NotANumber)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("request body is not valid JSON") from None
    problem = _first_problem(document)
    if problem is not None:
        raise BadRequest(problem)
    return document


def _first_problem(document: Any) -> str | None:
    """What is wrong with the first bad value found, with its path (``params.tile_size``)."""
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        path, value = pending.pop()
        where = path or "request body"
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return f"{where}: text holds a lone UTF-16 surrogate (not valid Unicode)"
        elif isinstance(value, float):
            if not math.isfinite(value):
                return f"{where}: {_number_text(value)} is not a JSON number"
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return f"{where}: a key holds a lone UTF-16 surrogate (not valid Unicode)"
                pending.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def _number_text(value: float) -> str:
    if isinstance(value, _NotANumber):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return "a number too large for a float"
