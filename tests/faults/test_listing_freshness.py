"""How old a folder's listing may be, on SeaweedFS: a file another writer (a workflow) puts
in the staging bucket shows within ``LABCAS_LISTING_TTL`` seconds, or at once to a client
that asks afresh; an annotation through the API shows at once."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.security.stack import STAGING, Api, Stack

pytestmark = pytest.mark.integration


def files(http: httpx.Client, folder: str, **headers: str) -> dict[str, dict[str, object]]:
    answer = http.get(f"/output-data/{folder}/", headers=headers)
    assert answer.status_code == 200, answer.text
    listed: dict[str, dict[str, object]] = answer.json()["files"]
    return listed


def test_a_file_written_outside_the_api_shows_within_the_listing_ttl(
    api: Api, stack: Stack
) -> None:
    s3 = stack.s3_client(direct=True)
    s3.put_object(Bucket=STAGING, Key="thomas/fresh-a/first.csv", Body=b"1\n")
    ttl = api.settings.listing_ttl
    assert ttl == 2  # the default
    with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
        assert set(files(http, "fresh-a")) == {"first.csv"}
        s3.put_object(Bucket=STAGING, Key="thomas/fresh-a/second.csv", Body=b"2\n")
        written = time.monotonic()
        while "second.csv" not in files(http, "fresh-a"):
            assert time.monotonic() - written < ttl + 1, "the new file did not show in time"
            time.sleep(0.1)
        s3.put_object(Bucket=STAGING, Key="thomas/fresh-a/third.csv", Body=b"3\n")
        assert "third.csv" in files(http, "fresh-a", **{"Cache-Control": "no-cache"})


def test_an_annotation_through_the_api_shows_at_once(api: Api, stack: Stack) -> None:
    stack.s3_client(direct=True).put_object(
        Bucket=STAGING, Key="thomas/fresh-b/data.csv", Body=b"1\n"
    )
    with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
        for value in ("1", "2", "3"):
            assert files(http, "fresh-b")["data.csv"]["properties"] != {"v": value}
            body = {"files": {"data.csv": {"properties": {"v": value}}}}
            assert http.put("/output-data/fresh-b", json=body).status_code == 200
            assert files(http, "fresh-b")["data.csv"]["properties"] == {"v": value}
