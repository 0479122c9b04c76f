"""CORS on the real server: only a listed origin (``LABCAS_ALLOWED_ORIGINS``, here
``http://127.0.0.1``) gets ``Access-Control-Allow-Origin``, on answers, errors and
preflights; credentials (cookies) are never allowed, since tokens travel in a header."""

from __future__ import annotations

import httpx
import pytest

from tests.security.stack import Api

pytestmark = pytest.mark.integration

LISTED = "http://127.0.0.1"
OTHERS = ["https://evil.example", "null", "http://127.0.0.1.evil.example", "http://127.0.0.1:1"]


def _calls(http: httpx.Client, api: Api, origin: str) -> dict[str, httpx.Response]:
    preflight = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    return {
        "healthz": http.get("/healthz", headers={"Origin": origin}),
        "401": http.get("/workflows", headers={"Origin": origin}),
        "200": http.get("/workflows", headers={**api.headers("eve"), "Origin": origin}),
        "preflight": http.options("/workflows/alpha/runs", headers=preflight),
    }


def test_only_a_listed_origin_is_allowed(api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for call, answer in _calls(http, api, LISTED).items():
            assert answer.headers.get("access-control-allow-origin") == LISTED, call
            assert "access-control-allow-credentials" not in answer.headers, call
        for origin in OTHERS:
            for call, answer in _calls(http, api, origin).items():
                assert "access-control-allow-origin" not in answer.headers, (origin, call)
                assert "access-control-allow-credentials" not in answer.headers, (origin, call)
