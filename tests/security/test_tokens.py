"""The token corpus against every kind of endpoint over real HTTP, and against the authorizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.aws.authorizer import Authorizer, build_authorizer
from labcas_workflow_api.settings import Settings
from tests.security import raw
from tests.security.stack import SECRET, Api
from tests.security.tokens import Bad, corpus

pytestmark = pytest.mark.integration

CORPUS = corpus(SECRET)
ENDPOINTS = [
    ("GET", "/data-selections", b""),
    ("GET", "/data-selections/workflows?data_id=tiny", b""),
    ("GET", "/workflows", b""),
    ("GET", "/workflows/alpha", b""),
    ("GET", "/workflows/alpha/runs", b""),
    ("POST", "/workflows/alpha/runs", b'{"in_data_selection": "tiny"}'),
    ("GET", "/workflows/alpha/runs/labcas__thomas__x", b""),
    ("GET", "/output-data/", b""),
    ("GET", "/dev/output-data/a/b", b""),
    ("PUT", "/output-data/a", b'{"files": {"x": {"properties": {"k": "v"}}}}'),
]


def served(api: Api) -> list[tuple[str, str, bytes]]:
    return [e for e in ENDPOINTS if api.serves(e[0], e[1].split("?")[0])]


def _headers(value: str | bytes | None) -> list[tuple[str | bytes, str | bytes]]:
    return [] if value is None else [("Authorization", value)]


# A control character in a header value is not HTTP (RFC 9110 5.5): the server's parser
# (httptools) refuses the request with a 400 problem before any token is read.
MALFORMED_HTTP = {"control characters"}


@pytest.mark.parametrize("bad", CORPUS, ids=[b.name for b in CORPUS])
def test_every_bad_token_is_a_401_problem(bad: Bad, api: Api) -> None:
    wrong = []
    for method, target, body in served(api):
        answer = raw.request(api.url, method, target, _headers(bad.header), body)
        if bad.name in MALFORMED_HTTP:
            ok = (
                answer.status == 400
                and answer.content_type.startswith("application/problem+json")
                and answer.json()["status"] == 400
            )
        else:
            ok = (
                answer.status == 401
                and answer.content_type.startswith("application/problem+json")
                and answer.headers.get("www-authenticate", "").startswith("Bearer")
                and answer.json()["status"] == 401
                and answer.headers.get("x-request-id")
            )
        if not ok:
            wrong.append(f"{method} {target}: {answer.status} {answer.body[:120]!r}")
    assert not wrong, wrong


def test_a_valid_token_passes_the_same_endpoints(api: Api) -> None:
    """The corpus is refused for what it is, not because the endpoints refuse everyone."""
    token = mint_token(SECRET, "thomas")
    for method, target, body in served(api):
        answer = raw.request(api.url, method, target, [("Authorization", f"Bearer {token}")], body)
        assert answer.status != 401, (method, target, answer.body[:200])
        assert answer.status < 500, (method, target, answer.body[:200])


@pytest.mark.parametrize("size", [20_000, 70_000, 1_000_000])
def test_oversized_authorization_headers_are_refused_by_the_server(api: Api, size: int) -> None:
    try:
        answer = raw.request(
            api.url, "GET", "/workflows", [("Authorization", "Bearer " + "a" * size)]
        )
    except (ConnectionError, AssertionError):
        answer = None  # the server may just close the connection
    if answer is not None:
        assert 400 <= answer.status < 500, answer.status
    assert raw.request(api.url, "GET", "/healthz").status == 200


@pytest.fixture(scope="module")
def authorizer(config_path: Path) -> Authorizer:
    settings = Settings(config=str(config_path), jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    return build_authorizer(settings)


ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/workflows"


@pytest.mark.parametrize("bad", CORPUS, ids=[b.name for b in CORPUS])
def test_the_authorizer_answers_401_to_every_bad_token(authorizer: Authorizer, bad: Bad) -> None:
    """API Gateway's 401 signal, ``Exception("Unauthorized")``, never a Deny (403, which would
    send the user to ask for access instead of signing in again) and never another error."""
    header = bad.header.decode("latin-1") if isinstance(bad.header, bytes) else bad.header
    events = [
        {
            "type": "REQUEST",
            "methodArn": ARN,
            "headers": {} if header is None else {"Authorization": header},
        },
        {
            "type": "REQUEST",
            "methodArn": ARN,
            "multiValueHeaders": {} if header is None else {"authorization": [header]},
        },
        {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": ARN,
            "headers": {"authorization": header},
        },
    ]
    for event in events:
        with pytest.raises(Exception) as raised:
            authorizer.authorize(event)
        assert type(raised.value) is Exception and str(raised.value) == "Unauthorized", event


def test_the_authorizer_allows_a_listed_user_and_denies_an_unlisted_one(
    authorizer: Authorizer,
) -> None:
    def effect(user: str) -> str:
        event = {
            "type": "REQUEST",
            "methodArn": ARN,
            "headers": {"Authorization": f"Bearer {mint_token(SECRET, user)}"},
        }
        return authorizer.authorize(event)["policyDocument"]["Statement"][0]["Effect"]

    assert effect("thomas") == "Allow"
    assert effect("mallory") == "Deny"
