"""The standalone server takes the user only from a token it verified: headers that proxies or
API Gateway use to name a user, or a forged Lambda event context, are ignored (401 without a
token; with eve's token, eve's view, not thomas's)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.security.stack import Api

pytestmark = pytest.mark.integration

CLAIMS = {
    "X-Username": "thomas",
    "X-User": "thomas",
    "Remote-User": "thomas",
    "X-Forwarded-User": "thomas",
    "X-Remote-User": "thomas",
    "X-Amzn-Oidc-Identity": "thomas",
    "X-Apigateway-Context": json.dumps({"authorizer": {"username": "thomas"}}),
    "X-Amzn-Apigateway-Api-Id": "abc123",
    "Principal": "thomas",
}


def test_identity_headers_name_no_user(api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for name, value in CLAIMS.items():
            answer = http.get("/workflows", headers={name: value})
            assert answer.status_code == 401, (name, answer.text)
        mine = http.get("/output-data", headers=api.headers("eve")).json()
        claimed = http.get("/output-data", headers={**CLAIMS, **api.headers("eve")})
        assert claimed.status_code == 200, claimed.text
        assert claimed.json() == mine
        assert http.get("/workflows", headers={**CLAIMS, **api.headers("eve")}).json() == (
            http.get("/workflows", headers=api.headers("eve")).json()
        )
