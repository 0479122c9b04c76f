"""A hostile-input pass over every operation: schemathesis over ``docs/openapi.yml`` (positive
and negative cases) with hostile values mixed into the bodies (lone surrogates, NaN and
infinities, huge numbers and strings, deep nesting) and hostile headers (``Host``,
``X-Forwarded-*``, ``Origin``, ``Content-Type``, ``Idempotency-Key``, ``X-Request-ID``).

No answer is a 500, and no answer body names the stack's insides (Airflow's and the S3
server's addresses, the buckets, the access config's path) or quotes Airflow. Two documented
places are left out of the name check: presigned download links (they are S3 URLs, so they
name the storage endpoint and the staging bucket) and the server-set keys of a dry run's conf
(shown to the caller, for their own run).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.security import raw
from tests.security.leaks import internal_names, leaks
from tests.security.matrix import generated_config, selections_of, workflows_of
from tests.security.stack import Api, Stack

pytestmark = pytest.mark.integration

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yml"
USER = "thomas"
PRESIGNED = re.compile(r"""https?://[^\s"'<>]*X-Amz-[^\s"'<>]*""")
SERVER_SET = ("in_bucket", "in_prefix", "out_bucket", "out_prefix", "username")

schema = schemathesis.openapi.from_path(SPEC).exclude(method="OPTIONS")

# -- hostile values --------------------------------------------------------------------------

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
NASTY_TEXT = st.one_of(
    st.text(SURROGATE, min_size=1, max_size=3),
    st.text(max_size=40).flatmap(lambda t: SURROGATE.map(lambda s: t + s + t)),
    st.sampled_from(["\x00", "\u202e", "\ufeff", "..", "../../etc/passwd", "%2e%2e/", "😀" * 50]),
    st.integers(10_000, 300_000).map(lambda n: "x" * n),
)
# NaN and the infinities cannot go through schemathesis' JSON encoder: RAW_TEXT and
# test_raw_json_bodies send them
LEAF = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0]),
    st.integers(-(10**400), 10**400),
    st.booleans(),
    st.none(),
    NASTY_TEXT,
)
NESTED = st.recursive(
    LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
DEEP = st.integers(100, 400).map(lambda n: {"in_data_selection": "tiny", "note": _deep(n)})
RAW_TEXT = st.one_of(
    st.integers(1_000, 20_000).map(lambda n: "[" * n + "]" * n),
    st.integers(1_000, 20_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.just('{"in_data_selection": NaN}'),
    st.just('{"in_data_selection": "tiny", "tile_size": Infinity}'),
    st.just('{"in_data_selection": "\\ud800"}'),
    st.just('{"in_data_selection": "tiny", "note": "\\udfff\\ud800"}'),
    st.just('{"in_data_selection": "tiny", "tile_size": 1' + "0" * 5000 + "}"),
    st.just('{"in_data_selection": "tiny"' + ', "x": 1' * 20_000 + "}"),
    st.just("\ufeff" + '{"in_data_selection": "tiny"}'),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)

LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f")
HEADER_TEXT = st.text(LATIN1, max_size=200).map(str.strip)
HOSTILE_HEADER_VALUES = st.one_of(
    HEADER_TEXT,
    st.sampled_from(
        [
            "evil.example",
            "evil.example:443",
            "javascript:alert(1)//",
            "127.0.0.1@evil.example",
            "https",
            "javascript",
            "1",
            "-1",
            "99999999999",
            "null",
            "*",
            "http://evil.example",
            "application/json; charset=utf-7",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            "\u00ff" * 100,
            "x" * 4000,
        ]
    ),
)
HOSTILE_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        name: HOSTILE_HEADER_VALUES
        for name in (
            "Host",
            "X-Forwarded-Proto",
            "X-Forwarded-Port",
            "X-Forwarded-Host",
            "X-Forwarded-For",
            "Forwarded",
            "Origin",
            "Content-Type",
            "Idempotency-Key",
            "X-Request-ID",
        )
    },
)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    if isinstance(body, str):
        return st.one_of(st.just(body), RAW_TEXT)
    if isinstance(body, dict):
        hostile = st.dictionaries(st.text(max_size=10), NESTED, max_size=3).map(
            lambda extra: {**body, **extra}
        )
        usable = sorted(selections_of(generated_config(), USER))
        plausible = st.sampled_from(usable).flatmap(
            lambda selection: NESTED.map(lambda v: {"in_data_selection": selection, "note": v})
        )
        return st.one_of(st.just(body), hostile, plausible, DEEP)
    return st.just(body)


@schema.hook
def flatmap_path_parameters(context: Any, parameters: Any) -> st.SearchStrategy[Any]:
    """Most cases name a workflow the user may run (and a run id of theirs), so that the
    hostile bodies and parameters reach validation, the engine and the storage."""
    if not isinstance(parameters, dict) or "workflow_id" not in parameters:
        return st.just(parameters)
    known = sorted(workflows_of(generated_config(), USER))
    mine = st.text(max_size=30).map(lambda tail: f"labcas__{USER}__{tail}")
    plausible = st.fixed_dictionaries(
        {
            **{k: st.just(v) for k, v in parameters.items()},
            "workflow_id": st.sampled_from(known),
            **(
                {"run_id": st.one_of(st.just(parameters["run_id"]), mine)}
                if "run_id" in parameters
                else {}
            ),
        }
    )
    return st.one_of(st.just(parameters), plausible, plausible)


@schema.hook
def flatmap_headers(context: Any, headers: Any) -> st.SearchStrategy[Any]:
    return HOSTILE_HEADERS.map(lambda extra: {**(headers or {}), **extra})


# -- the pass --------------------------------------------------------------------------------

STATUSES: Counter[int] = Counter()


@pytest.fixture(scope="module")
def names(stack: Stack, config_path: Path) -> list[str]:
    return internal_names(stack, config_path, config_path.parent)


def visible_text(response: Any) -> str:
    """The answer body, less the two documented places that name the storage."""
    text = PRESIGNED.sub("<presigned>", response.text)
    if response.status_code == 200 and text.startswith("{"):
        body = json.loads(text)
        if isinstance(body, dict) and body.get("dry_run") and isinstance(body.get("conf"), dict):
            body["conf"] = {k: v for k, v in body["conf"].items() if k not in SERVER_SET}
            text = json.dumps(body)
    return text


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_hostile_input_gets_no_500_and_no_internal_names(
    case: schemathesis.Case, api: Api, names: list[str]
) -> None:
    headers = dict(case.headers or {})
    headers["Authorization"] = f"Bearer {api.token(USER)}"  # tokens: test_tokens.py
    case.headers = headers
    response = case.call(base_url=api.url, timeout=60)
    STATUSES[response.status_code] += 1
    assert response.status_code != 500, f"{case.method} {case.formatted_path}: {response.text}"
    found = leaks(visible_text(response), names)
    assert not found, f"{case.method} {case.formatted_path} -> {response.status_code}: {found}"


RAW_JSON = [
    b'{"in_data_selection": NaN}',
    b'{"in_data_selection": "tiny", "tile_size": NaN}',
    b'{"in_data_selection": "tiny", "ratio": Infinity}',
    b'{"in_data_selection": "tiny", "ratio": -Infinity}',
    b'{"in_data_selection": "tiny", "tile_size": 1' + b"0" * 5000 + b"}",
    b'{"in_data_selection": "\\ud800"}',
    b'{"in_data_selection": "tiny", "note": "\\udfff"}',
    b'{"files": {"a.csv": {"properties": {"k": NaN}}}}',
    b'{"files": {"\\ud800.csv": {"properties": {"k": "v"}}}}',
    b'{"files": {"a.csv": {"properties": {"\\udfff": "\\ud800"}}}}',
    b'{"files": {"a.csv": {"properties": {"k": 1e999}}}}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"files": ' * 5000 + b"1" + b"}" * 5000,
    b"\xff\xfe{}",
    b'{"in_data_selection": "tiny"}' + b"\x00",
]


@pytest.mark.parametrize("body", RAW_JSON, ids=range(len(RAW_JSON)))
@pytest.mark.parametrize(
    "target", ["/workflows/alpha/runs", "/workflows/alpha/runs?dry_run=true", "/output-data/x"]
)
def test_raw_json_bodies(api: Api, names: list[str], target: str, body: bytes) -> None:
    """Bodies no JSON library writes (NaN, Infinity, lone surrogates, overflowing numbers,
    deep nesting, bytes that are not UTF-8), as application/json."""
    method = "PUT" if target.startswith("/output-data") else "POST"
    headers = [*api.headers(USER).items(), ("Content-Type", "application/json")]
    answer = raw.request(api.url, method, target, headers, body)  # type: ignore[arg-type]
    STATUSES[answer.status] += 1
    assert 400 <= answer.status < 500, answer.body[:300]
    assert answer.content_type.startswith("application/problem+json")
    assert not leaks(answer.body.decode("utf-8", "replace"), names)


def test_summary() -> None:
    """The statuses the pass above got (printed; it ran if there are any)."""
    print(f"\nhostile pass: {sum(STATUSES.values())} answers, {dict(sorted(STATUSES.items()))}")
    assert sum(STATUSES.values()) > 500
