"""The reference spec and the running server agree: schemathesis over every operation."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.integration.api_fixtures import ApiServer
from tests.support.heads import refused_head

pytestmark = pytest.mark.integration

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yml"
# OPTIONS operations describe API Gateway's CORS mocks; the server's own preflight answers
# are checked by the unit tests (tests/unit/test_http_catalog.py).
schema = schemathesis.openapi.from_path(SPEC).exclude(method="OPTIONS")


@pytest.fixture(scope="module")
def api(api_server: ApiServer) -> ApiServer:
    return api_server


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_conforms(case: schemathesis.Case, api: ApiServer) -> None:
    headers = dict(case.headers or {})
    headers.setdefault("Authorization", f"Bearer {api.token('thomas')}")
    response = case.call(base_url=api.url, headers=headers)
    if not refused_head(response):
        case.validate_response(response)
