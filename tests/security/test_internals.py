"""No answer tells a caller about the service's insides (issue 10.3).

Readiness, unauthenticated, says which part fails (``config``, ``engine``, ``storage``) and
whether the last good access config is in use, nothing more. Error answers for failures that
are not the caller's say what kind of thing failed and quote the request id; the details
(Airflow's address and words, the bucket, the file) go to the log under that id. 4xx details
name the caller's mistake in our words, never an upstream's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.security.leaks import internal_names, leaks
from tests.security.matrix import generated_config
from tests.security.stack import Api, Stack, problem, serve_api, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def own_config(tmp_path: Path) -> Path:
    path = tmp_path / "secret-location" / "access.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(generated_config(), sort_keys=False))
    return path


@pytest.fixture
def fresh_api(stack: Stack, own_config: Path) -> Iterator[Api]:
    """The API over ``own_config``, re-read at every request; every proxy forwarding after."""
    with serve_api(stack, stack.settings(str(own_config), config_ttl=0)) as served:
        yield served
    stack.airflow_proxy.reset()
    stack.s3_proxy.reset()


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="labcas_workflow_api")
    return caplog


def names(stack: Stack, config: Path) -> list[str]:
    return internal_names(stack, config, config.parent)


def test_readyz_names_the_failing_parts_only(
    fresh_api: Api, stack: Stack, own_config: Path, logged: pytest.LogCaptureFixture
) -> None:
    stack.airflow_proxy.down()
    stack.s3_proxy.down()
    answer = httpx.get(fresh_api.url + "/readyz", timeout=30)
    print(f"\nreadyz with Airflow and S3 down: {answer.status_code} {answer.text}")
    assert answer.status_code == 503
    rid = answer.headers["x-request-id"]
    assert answer.json() == {
        "status": "not ready",
        "checks": {"config": "ok", "engine": "failed", "storage": "failed"},
        "request_id": rid,
    }
    assert not leaks(answer.text, names(stack, own_config))
    assert rid in logged.text, "the details are logged under the request id"


def test_a_config_served_from_its_last_good_copy_is_not_simply_ok(
    fresh_api: Api, stack: Stack, own_config: Path
) -> None:
    assert httpx.get(fresh_api.url + "/readyz", timeout=30).json()["checks"]["config"] == "ok"
    own_config.write_text("collections: [this is not: valid")
    answer = httpx.get(fresh_api.url + "/readyz", timeout=30)
    print(f"\nreadyz with a broken config file: {answer.status_code} {answer.text}")
    assert answer.status_code == 200, "the service works on the last good config"
    assert answer.json()["checks"] == {"config": "last good", "engine": "ok", "storage": "ok"}
    assert not leaks(answer.text, names(stack, own_config))


def engine_down(stack: Stack) -> None:
    stack.airflow_proxy.down()


def engine_silent(stack: Stack) -> None:
    stack.airflow_proxy.hang = True


def storage_down(stack: Stack) -> None:
    stack.s3_proxy.down()


@pytest.mark.parametrize(
    ("fault", "method", "path", "body", "status"),
    [
        (
            engine_down,
            "POST",
            "/workflows/alpha/runs?dry_run=true",
            {"in_data_selection": "tiny"},
            503,
        ),
        (
            engine_silent,
            "POST",
            "/workflows/alpha/runs?dry_run=true",
            {"in_data_selection": "tiny"},
            504,
        ),
        (engine_down, "GET", "/workflows/alpha/runs", None, 503),
        (storage_down, "GET", "/output-data/", None, 503),
        (
            storage_down,
            "PUT",
            "/output-data/x",
            {"files": {"a.csv": {"properties": {"k": "v"}}}},
            503,
        ),
    ],
)
def test_upstream_failures_say_what_failed_and_quote_the_request_id(
    fresh_api: Api,
    stack: Stack,
    own_config: Path,
    logged: pytest.LogCaptureFixture,
    fault: Any,
    method: str,
    path: str,
    body: Any,
    status: int,
) -> None:
    user = _user_of_tiny_alpha()
    fault(stack)
    answer = httpx.request(
        method, fresh_api.url + path, json=body, headers=fresh_api.headers(user), timeout=60
    )
    print(f"\n{fault.__name__} {method} {path}: {answer.status_code} {answer.text}")
    assert answer.status_code == status
    found = problem(answer)
    rid = answer.headers["x-request-id"]
    assert found["request_id"] == rid
    assert f"quote request id {rid} to the operators" in found["detail"]
    assert not leaks(answer.text, names(stack, own_config))
    warnings = [r for r in logged.records if rid in r.getMessage() and r.levelno >= logging.WARNING]
    assert warnings, "the detail is logged once, under the request id"


def _user_of_tiny_alpha() -> str:
    config = generated_config()
    return str(config["collections"]["tiny"]["workflows"]["alpha"]["authorized_users"][0])


def test_a_run_that_does_not_exist_is_not_found_in_our_words(
    fresh_api: Api, stack: Stack, own_config: Path
) -> None:
    user = _user_of_tiny_alpha()
    answer = httpx.get(
        f"{fresh_api.url}/workflows/alpha/runs/labcas__{user}__20200101T000000000000",
        headers=fresh_api.headers(user),
        timeout=30,
    )
    print(f"\nunknown own run: {answer.status_code} {answer.text}")
    assert answer.status_code == 404
    assert (
        problem(answer)["detail"] == "run 'labcas__" + user + "__20200101T000000000000' not found"
    )
    assert not leaks(answer.text, names(stack, own_config))


def test_a_missing_staging_bucket_is_not_named(stack: Stack, own_config: Path) -> None:
    settings = stack.settings(str(own_config), staging_bucket="labcas-missing-staging")
    with serve_api(stack, settings) as api:
        answer = httpx.get(api.url + "/output-data/", headers=api.headers("thomas"), timeout=30)
    print(f"\nmissing staging bucket: {answer.status_code} {answer.text}")
    assert answer.status_code >= 400
    problem(answer)
    assert not leaks(answer.text, [*names(stack, own_config), "labcas-missing-staging"])


def test_readiness_recovers_when_the_parts_come_back(fresh_api: Api, stack: Stack) -> None:
    stack.airflow_proxy.down()
    assert httpx.get(fresh_api.url + "/readyz", timeout=30).status_code == 503
    stack.airflow_proxy.reset()
    wait_until(lambda: httpx.get(fresh_api.url + "/readyz", timeout=30).status_code == 200, 30)
