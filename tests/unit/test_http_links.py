"""Where links may point: the public URL, else an allowed ``Host`` (standalone server), else
the host the Lambda adapter vouches for."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.http.deps import host_allowed
from labcas_workflow_api.settings import Settings
from tests.unit.fakes import SECRET, FakeEngine, FakeStore, write_config

DEFAULT = ["127.0.0.1", "localhost", "::1"]


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.0.0.1:8000", True),
        ("LOCALHOST:8000", True),
        ("[::1]:8000", True),
        ("[::1]", True),
        ("evil.example", False),
        ("127.0.0.1.evil.example", False),
        ("127.0.0.1@evil.example", False),
        ("evil.example/127.0.0.1", False),
        ("javascript:alert(1)//", False),
        ("localhost:80#", False),
        ("localhost:", False),
        ("[::1]x", False),
        ("", False),
        (None, False),
    ],
)
def test_host_allowed_by_default_list(host: str | None, allowed: bool) -> None:
    assert host_allowed(host, DEFAULT) is allowed


def test_host_patterns() -> None:
    assert host_allowed("api.labcas.example.org:443", ["*.example.org"])
    assert not host_allowed("example.org", ["*.example.org"])
    assert not host_allowed("evilexample.org", ["*.example.org"])
    assert host_allowed("anything.at.all", ["*"])


@pytest.mark.parametrize(
    ("given", "public", "hosts"),
    [
        ("", "", DEFAULT),
        ("", "https://workflows.example.org/api", [*DEFAULT, "workflows.example.org"]),
        ("api.example.org, *.internal", "", ["api.example.org", "*.internal"]),
        ("api.example.org", "https://API.example.org", ["api.example.org"]),
    ],
)
def test_allowed_hosts_setting(given: str, public: str, hosts: list[str]) -> None:
    settings = Settings(allowed_hosts=given, public_url=public, _env_file=None)  # type: ignore[call-arg]
    assert settings.hosts == hosts


def _client(tmp_path: Path, allowed_hosts: list[str] | None, **settings: str) -> TestClient:
    values = Settings(
        config=str(write_config(tmp_path)), jwt_secret=SECRET, _env_file=None, **settings
    )  # type: ignore[call-arg]
    container = build_container(values, engine=FakeEngine(), store=FakeStore())
    return TestClient(create_app(container=container, allowed_hosts=allowed_hosts))


BODY = {"in_data_selection": "nebraska_images"}
DRY_RUN = "/workflows/nebraska_demo/runs?dry_run=true"


def test_a_host_not_allowed_gets_a_problem_not_a_link(tmp_path: Path, auth) -> None:  # type: ignore[no-untyped-def]
    client = _client(tmp_path, DEFAULT)
    answer = client.post(DRY_RUN, json=BODY, headers={**auth("thomas"), "Host": "evil.example"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert "evil" not in answer.text
    fine = client.post(DRY_RUN, json=BODY, headers={**auth("thomas"), "Host": "localhost:8000"})
    assert fine.json()["output_url"].startswith("http://localhost:8000/output-data/")
    assert client.get("/healthz", headers={"Host": "10.0.0.7"}).status_code == 200


def test_the_public_url_wins_over_any_host(tmp_path: Path, auth) -> None:  # type: ignore[no-untyped-def]
    client = _client(tmp_path, DEFAULT, public_url="https://workflows.example.org")
    answer = client.post(DRY_RUN, json=BODY, headers={**auth("thomas"), "Host": "evil.example"})
    assert answer.json()["output_url"].startswith("https://workflows.example.org/output-data/")


def test_without_a_list_the_host_is_trusted_as_the_lambda_adapter_sets_it(
    tmp_path: Path,
    auth,  # type: ignore[no-untyped-def]
) -> None:
    client = _client(tmp_path, None)
    headers = {**auth("thomas"), "Host": "abc123.execute-api.us-west-2.amazonaws.com"}
    answer = client.post(DRY_RUN, json=BODY, headers=headers)
    assert "abc123.execute-api" in answer.json()["output_url"]
