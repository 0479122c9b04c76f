"""Hostile bodies and ids on the run endpoints, sent raw: always a 4xx problem, never a 500,
and no run is started by any of them."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.security import raw
from tests.security.stack import Api, Stack

pytestmark = pytest.mark.integration

RUNS = "/workflows/alpha/runs"
NEST = 40_000
T = b'{"in_data_selection": "tiny", '  # how most bodies start

# fmt: off
BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("empty", b"", 400),
    ("not JSON", b"{nope", 400),
    ("not UTF-8", b'{"in_data_selection": "\xff"}', 400),
    ("a list", b"[]", 400),
    ("a string", b'"tiny"', 400),
    ("deep array", T + b'"x": ' + b"[" * NEST + b"]" * NEST + b"}", 400),
    ("deep object", b'{"a":' * NEST + b"1" + b"}" * NEST, 400),
    ("deep params", T + b'"params": ' + b"[" * NEST + b"]" * NEST + b"}", 400),
    ("huge integer", T + b'"tile_size": 1' + b"0" * 5000 + b"}", 400),
    ("NaN", T + b'"tile_size": NaN}', 400),
    ("Infinity", T + b'"tile_size": Infinity}', 400),
    ("NaN in a number parameter", T + b'"ratio": NaN}', 400),
    ("overflowing number", T + b'"ratio": 1e999}', 400),
    ("lone surrogate in a string parameter", T + b'"note": "\\ud800"}', 400),
    ("lone surrogate in a key", T + b'"\\udfff": 1}', 400),
    ("selection not a string", b'{"in_data_selection": ["tiny"]}', 400),
    ("selection empty", b'{"in_data_selection": ""}', 400),
    ("selection traversal", b'{"in_data_selection": "../tiny"}', 404),
    ("selection NUL", b'{"in_data_selection": "tiny\\u0000"}', 404),
    ("reserved key", T + b'"out_prefix": "eve/"}', 400),
    ("reserved key under params", T + b'"params": {"username": "eve"}}', 400),
    ("reserved key, other case", T + b'"USERNAME": "eve"}', 422),
    ("workflow_id mismatch", T + b'"workflow_id": "beta"}', 400),
    ("params not an object", T + b'"params": "x"}', 400),
    ("param given twice", T + b'"note": "a", "params": {"note": "b"}}', 400),
    ("unknown param", T + b'"rm -rf": "/"}', 422),
    ("param of the wrong type", T + b'"tile_size": "64"}', 422),
    ("param out of range", T + b'"tile_size": 2}', 422),
    ("param too long", T + b'"note": "' + b"x" * 300 + b'"}', 422),
    ("duplicate keys", T + b'"in_data_selection": "colon_images"}', 200),
]
# fmt: on


def _auth(api: Api) -> list[tuple[str | bytes, str | bytes]]:
    return [("Authorization", f"Bearer {api.token('eve')}")]


def _run_count(api: Api) -> int:
    answer = httpx.get(f"{api.url}{RUNS}", headers=api.headers("eve"), timeout=30)
    assert answer.status_code == 200, answer.text
    return len(answer.json()["runs"])


@pytest.mark.parametrize("name,body,status", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_bad_run_requests(
    name: str, body: bytes, status: int, content_type: str, api: Api, stack: Stack
) -> None:
    before = _run_count(api)
    answer = raw.request(
        api.url,
        "POST",
        f"{RUNS}?dry_run={'true' if status == 200 else 'false'}",
        [*_auth(api), ("Content-Type", content_type)],
        body,
    )
    assert answer.status == status, answer.body[:300]
    if status != 200:
        assert answer.content_type.startswith("application/problem+json")
        assert answer.json()["status"] == status
    assert _run_count(api) == before


# fmt: off
HOSTILE_IDS = [
    "/workflows/..%2f..%2fetc/runs", "/workflows/%2e%2e/runs", "/workflows/alpha%00/runs",
    "/workflows/" + "a" * 300 + "/runs", "/workflows/alpha/runs/..%2f..%2fx",
    "/workflows/alpha/runs/labcas__eve__%2e%2e", "/workflows/alpha/runs/%00",
    "/workflows/alpha/runs/" + "r" * 300, "/workflows/alpha/runs/x/tasks/..%2f/logs",
    "/workflows/alpha/runs/x/tasks/start/logs?try=0",
    "/workflows/alpha/runs/x/tasks/start/logs?try=-1",
    "/workflows/alpha/runs/x/tasks/start/logs?try=99999999999999999999",
    "/workflows/alpha/runs/x/tasks/start/logs?map_index=-5",
    "/workflows/alpha/runs?limit=0", "/workflows/alpha/runs?limit=-1",
    "/workflows/alpha/runs?status=evil",
    "/workflows/alpha/runs?limit=1&cursor=%00", "/workflows/alpha/runs?cursor=" + "W" * 2000,
    "/workflows/alpha/runs?cursor=" + "Wy" + "Ww" * 500,
]
# fmt: on


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_hostile_ids_and_queries(method: str, api: Api) -> None:
    wrong = []
    for target in HOSTILE_IDS:
        answer = raw.request(
            api.url, method, target, _auth(api), b"{}" if method == "POST" else b""
        )
        if not 400 <= answer.status < 500:
            wrong.append(f"{method} {target[:80]}: {answer.status} {answer.body[:100]!r}")
        elif "x-request-id" in answer.headers and not answer.content_type.startswith(
            "application/problem+json"
        ):
            wrong.append(f"{method} {target[:80]}: {answer.status} without problem+json")
    assert not wrong, wrong


def test_json_body_of_a_run_request_is_parsed_once_and_safely(api: Api) -> None:
    """A large, flat, valid body is fine (no quadratic blow-up)."""
    body = json.dumps({"in_data_selection": "tiny", "note": "x" * 100}).encode()
    answer = raw.request(api.url, "POST", f"{RUNS}?dry_run=true", _auth(api), body)
    assert answer.status == 200, answer.body
