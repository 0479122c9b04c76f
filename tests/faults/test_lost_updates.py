"""Concurrent metadata writers on one file lose no update: writers that all hold the ETag
they listed send it back, exactly one of them writes and the others get 412; the sidecar
left is the winner's. Over real HTTP on SeaweedFS, whose PUT honours If-Match."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.security.stack import STAGING, Api, Stack, problem

pytestmark = pytest.mark.integration

WRITERS = 16
ROUNDS = 3


@pytest.mark.parametrize("how", ["If-Match header", "etag in the body"])
def test_of_concurrent_writers_with_one_etag_exactly_one_wins(
    api: Api, stack: Stack, how: str
) -> None:
    folder = "lost-updates-" + how.split()[0].lower().replace("-", "")
    stack.s3_client(direct=True).put_object(
        Bucket=STAGING, Key=f"thomas/{folder}/data.csv", Body=b"1,2\n"
    )
    with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
        http.put(f"/output-data/{folder}", json={"files": {"data.csv": {"properties": {}}}})
        for round_ in range(ROUNDS):
            listed = http.get(f"/output-data/{folder}/").json()["files"]["data.csv"]
            etag = listed["properties_etag"]
            assert etag
            barrier = threading.Barrier(WRITERS)

            def write(writer: int) -> httpx.Response:
                props = {"writer": str(writer), "round": str(round_)}
                entry: dict[str, object] = {"properties": props}
                headers = {}
                if how == "If-Match header":
                    headers["If-Match"] = f'"{etag}"'
                else:
                    entry["etag"] = etag
                barrier.wait()
                return http.put(
                    f"/output-data/{folder}", json={"files": {"data.csv": entry}}, headers=headers
                )

            with ThreadPoolExecutor(WRITERS) as pool:
                answers = list(pool.map(write, range(WRITERS)))
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200] + [412] * (WRITERS - 1), statuses
            for answer in answers:
                if answer.status_code == 412:
                    assert "data.csv" in problem(answer)["detail"]
            winner = next(i for i, a in enumerate(answers) if a.status_code == 200)
            now = http.get(f"/output-data/{folder}/").json()["files"]["data.csv"]
            assert now["properties"] == {"writer": str(winner), "round": str(round_)}
            assert now["properties_etag"] != etag


def test_a_stale_etag_is_refused_and_an_unconditional_write_still_wins(
    api: Api, stack: Stack
) -> None:
    stack.s3_client(direct=True).put_object(
        Bucket=STAGING, Key="thomas/stale/data.csv", Body=b"1,2\n"
    )
    with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
        first = http.get("/output-data/stale/").json()["files"]["data.csv"]
        assert first["properties_etag"] is None
        create = {"files": {"data.csv": {"properties": {"v": "1"}, "etag": None}}}
        assert http.put("/output-data/stale", json=create).status_code == 200
        again = http.put("/output-data/stale", json=create)
        assert again.status_code == 412, again.text
        plain = {"files": {"data.csv": {"properties": {"v": "2"}}}}
        assert http.put("/output-data/stale", json=plain).status_code == 200
        listed = http.get("/output-data/stale/").json()["files"]["data.csv"]
        assert listed["properties"] == {"v": "2"}
