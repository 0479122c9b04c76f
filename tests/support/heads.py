"""What schemathesis may meet before any route: the server's refusal of a huge head."""

from __future__ import annotations

from typing import Any

from labcas_workflow_api.http.server import MAX_HEAD


def refused_head(response: Any) -> bool:
    """Whether ``response`` is the server's 431 to a request line and headers over
    ``MAX_HEAD`` (http/server.py; tests/faults/test_slow_clients.py), which no route sees and
    the spec does not describe; asserts that the request was one only a generated value too
    long for any head makes."""
    if response.status_code != 431:
        return False
    assert len(response.request.url or "") > MAX_HEAD // 2, response.request.url
    return True
