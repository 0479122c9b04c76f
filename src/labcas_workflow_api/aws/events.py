"""Reading API Gateway events (REST, payload 1.0); standard library only, cheap to import."""

from __future__ import annotations

from typing import Any


def event_headers(event: dict[str, Any]) -> list[tuple[str, str]]:
    """Request headers, lower-cased names; ``multiValueHeaders`` win over ``headers``."""
    multi = event.get("multiValueHeaders")
    single = event.get("headers")
    pairs: list[tuple[str, str]] = []
    if isinstance(multi, dict) and multi:
        for name, values in multi.items():
            for value in values if isinstance(values, list) else [values]:
                if isinstance(name, str) and isinstance(value, str):
                    pairs.append((name.lower(), value))
    elif isinstance(single, dict):
        pairs = [
            (k.lower(), v) for k, v in single.items() if isinstance(k, str) and isinstance(v, str)
        ]
    return pairs
