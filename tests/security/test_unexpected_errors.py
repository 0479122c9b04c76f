"""A failure nobody planned for (a bug) on the real server: a 500 problem+json that quotes the
request id and shows no traceback or exception text; the traceback goes to the log under that
request id. The engine here is the real Airflow one with one method broken."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from labcas_workflow_api.bootstrap import build_engine
from tests.security.stack import Stack, problem, serve_api

pytestmark = pytest.mark.integration

SECRET_TEXT = "unplanned failure at /srv/labcas/secret.py with s3://labcas-staging/x"


class BrokenEngine:
    """The real engine, except that listing the deployed workflows raises."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if name == "list_workflows":

            def broken(*args: Any, **kwargs: Any) -> Any:
                raise ZeroDivisionError(SECRET_TEXT)

            return broken
        return attribute


def test_an_unexpected_error_is_a_500_problem_quoting_the_request_id(
    stack: Stack, config_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = stack.settings(str(config_path), engine_cache_ttl=0)
    caplog.set_level(logging.INFO)
    with (
        serve_api(stack, settings, engine=BrokenEngine(build_engine(settings))) as api,
        httpx.Client(base_url=api.url, timeout=30) as http,
    ):
        answer = http.get("/workflows", headers={**api.headers("eve"), "X-Request-ID": "bug-42"})
    assert answer.status_code == 500, answer.text
    body = problem(answer)
    assert body["request_id"] == "bug-42" and "bug-42" in body["detail"]
    for hidden in ("Traceback", "ZeroDivisionError", "secret.py", "s3://", "labcas-staging"):
        assert hidden not in answer.text, hidden
    logged = [r for r in caplog.records if r.exc_info and "bug-42" in r.getMessage()]
    assert logged, "the traceback is logged under the request id"
