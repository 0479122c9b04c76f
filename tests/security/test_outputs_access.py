"""Outputs follow the access config: a user named in no ``authorized_users`` list may not
browse, download (the listing carries the links) or annotate even their own outputs, and a
user removed from every list loses them within ``LABCAS_CONFIG_TTL``. Over real HTTP, on the
real S3 server, with the access config file rewritten on disk."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.security.stack import STAGING, Api, Stack, problem, serve_api, wait_until

pytestmark = pytest.mark.integration

TTL = 2
PUT = {"files": {"data.csv": {"properties": {"reviewed": "yes"}}}}


def _config(*users: str) -> str:
    workflows = {"alpha": {"authorized_users": list(users)}}
    document = {"collections": {"tiny": {"bucket": "edrn-data", "workflows": workflows}}}
    return yaml.safe_dump(document)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "access.yml"
    path.write_text(_config("ruth", "sam"))
    return path


@pytest.fixture
def api(stack: Stack, config: Path) -> Iterator[Api]:
    with serve_api(stack, stack.settings(str(config), config_ttl=TTL)) as served:
        yield served


@pytest.fixture(autouse=True)
def outputs(stack: Stack) -> None:
    s3 = stack.s3_client(direct=True)
    for user in ("ruth", "sam", "mallory"):
        s3.put_object(Bucket=STAGING, Key=f"{user}/run1/data.csv", Body=b"1,2\n")


def _calls(http: httpx.Client, user: str, api: Api) -> dict[str, httpx.Response]:
    headers = api.headers(user)
    return {
        "GET json": http.get("/output-data/run1/", headers=headers),
        "GET html": http.get("/output-data/run1/", headers={**headers, "Accept": "text/html"}),
        "GET root": http.get("/output-data", headers=headers),
        "GET stage": http.get("/dev/output-data/run1/", headers=headers),
        "PUT": http.put("/output-data/run1", json=PUT, headers=headers),
    }


def test_a_user_in_no_list_is_refused_everything(api: Api, stack: Stack) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as http:
        answers = _calls(http, "mallory", api)
    for call, answer in answers.items():
        assert answer.status_code == 403, (call, answer.text)
        assert "data.csv" not in problem(answer)["detail"]
    keys = stack.s3_client(direct=True).list_objects_v2(Bucket=STAGING, Prefix="mallory/")
    assert [o["Key"] for o in keys["Contents"]] == ["mallory/run1/data.csv"]


def test_a_user_removed_from_every_list_is_refused_within_the_ttl(api: Api, config: Path) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as http:
        answers = _calls(http, "ruth", api)
        assert {c: a.status_code for c, a in answers.items()} == dict.fromkeys(answers, 200)
        assert "data.csv" in answers["GET json"].json()["files"]

        config.write_text(_config("sam"))
        removed = time.monotonic()
        wait_until(
            lambda: http.get("/output-data/run1/", headers=api.headers("ruth")).status_code == 403,
            timeout=TTL + 5,
        )
        took = time.monotonic() - removed
        answers = _calls(http, "ruth", api)
        for call, answer in answers.items():
            assert answer.status_code == 403, (call, answer.text)
            problem(answer)
        assert http.get("/output-data/run1/", headers=api.headers("sam")).status_code == 200
    print(f"\nremoved from the config: refused after {took:.1f}s (LABCAS_CONFIG_TTL={TTL})")
    assert took <= TTL + 1.5


def test_a_removed_user_loses_the_workflows_but_links_handed_out_work_until_they_expire(
    api: Api, config: Path
) -> None:
    """Removal reaches every endpoint within the TTL, not only ``/output-data``; the objects
    stay in S3 and a presigned link handed out before the removal still downloads."""
    calls = ("/workflows/alpha", "/workflows/alpha/runs", "/data-selections/workflows?data_id=tiny")
    with httpx.Client(base_url=api.url, timeout=30) as http:
        headers = api.headers("ruth")
        for call in calls:
            assert http.get(call, headers=headers).status_code == 200, call
        link = http.get("/output-data/run1/", headers=headers).json()["files"]["data.csv"]["href"]

        config.write_text(_config("sam"))
        wait_until(
            lambda: http.get("/workflows/alpha", headers=headers).status_code == 404,
            timeout=TTL + 5,
        )
        for call in calls:
            answer = http.get(call, headers=headers)
            assert answer.status_code == 404, (call, answer.text)
            problem(answer)
        assert http.get("/workflows", headers=headers).json()["workflows"] == []
        assert http.get("/data-selections", headers=headers).json()["data_selections"] == []
    download = httpx.get(link, timeout=30)
    assert (download.status_code, download.content) == (200, b"1,2\n")
