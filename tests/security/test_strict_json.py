"""Valid JSON that nothing downstream can carry (``NaN``, the infinities, numbers too large
for a float, lone UTF-16 surrogates) is a 400 problem naming the field, on a run start and
on a metadata write, over real HTTP on the real stack: no run is started, nothing written."""

from __future__ import annotations

import httpx
import pytest

from tests.security import raw
from tests.security.stack import STAGING, Api, Stack

pytestmark = pytest.mark.integration

USER = "eve"  # may run alpha on tiny in the generated config
RUNS = "/workflows/alpha/runs"
FOLDER = "strict-json"
T = b'{"in_data_selection": "tiny", '

START_BODIES = [
    (T + b'"tile_size": NaN}', "tile_size: NaN is not a JSON number"),
    (T + b'"tile_size": Infinity}', "tile_size: Infinity is not a JSON number"),
    (T + b'"ratio": -Infinity}', "ratio: -Infinity is not a JSON number"),
    (T + b'"ratio": 1e999}', "ratio: a number too large for a float"),
    (T + b'"note": "\\ud800"}', "note: text holds a lone UTF-16 surrogate"),
    (T + b'"params": {"note": "\\udfff"}}', "params.note: text holds a lone UTF-16 surrogate"),
    (b'{"in_data_selection": "\\ud800"}', "in_data_selection: text holds a lone UTF-16"),
]
PUT_BODIES = [  # properties are strings: a number there is named as not one
    (b'{"files": {"data": {"properties": {"k": NaN}}}}', "files.data.properties.k"),
    (b'{"files": {"data": {"properties": {"k": Infinity}}}}', "files.data.properties.k"),
]


def _auth(api: Api) -> list[tuple[str | bytes, str | bytes]]:
    return [("Authorization", f"Bearer {api.token(USER)}"), ("Content-Type", "application/json")]


def _named_400(answer: raw.RawResponse, field: str) -> None:
    assert answer.status == 400, answer.body[:300]
    assert answer.content_type.startswith("application/problem+json")
    assert field in answer.json()["detail"], answer.json()


@pytest.mark.parametrize(("body", "field"), START_BODIES, ids=[f for _, f in START_BODIES])
def test_a_run_start_with_a_value_json_cannot_carry_is_a_400_naming_it(
    body: bytes, field: str, api: Api
) -> None:
    def count() -> int:
        answer = httpx.get(f"{api.url}{RUNS}", headers=api.headers(USER), timeout=30)
        assert answer.status_code == 200, answer.text
        return len(answer.json()["runs"])

    before = count()
    _named_400(raw.request(api.url, "POST", RUNS, _auth(api), body), field)
    assert count() == before


@pytest.mark.parametrize(("body", "field"), PUT_BODIES, ids=[f for _, f in PUT_BODIES])
def test_a_metadata_value_json_cannot_carry_is_a_400_naming_it(
    body: bytes, field: str, api: Api, stack: Stack
) -> None:
    s3 = stack.s3_client(direct=True)
    s3.put_object(Bucket=STAGING, Key=f"{USER}/{FOLDER}/data", Body=b"1,2\n")
    _named_400(raw.request(api.url, "PUT", f"/output-data/{FOLDER}", _auth(api), body), field)
    keys = s3.list_objects_v2(Bucket=STAGING, Prefix=f"{USER}/{FOLDER}/")["Contents"]
    assert [o["Key"] for o in keys] == [f"{USER}/{FOLDER}/data"], "no sidecar written"


def test_a_lone_surrogate_in_a_metadata_value_is_a_400_naming_the_field(
    api: Api, stack: Stack
) -> None:
    test_a_metadata_value_json_cannot_carry_is_a_400_naming_it(
        b'{"files": {"data": {"properties": {"k": "\\ud800"}}}}',
        "files.data.properties.k",
        api,
        stack,
    )
