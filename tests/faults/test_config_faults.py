"""The access config (a file, or SSM on a moto server) turning invalid, unreachable or slow,
and back.

The API keeps serving the last good config through a bad or missing one, without stalling
requests while the source is slow, picks up a new valid one by itself, and answers 503
problem+json when it never had a good config.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.conftest import CONFIG, MIX, PARAMETER
from tests.faults.proxy import FaultProxy
from tests.faults.steady import Steady, bad_answers, summary
from tests.security.stack import Stack, problem, serve_api, wait_until

pytestmark = pytest.mark.integration

REVOKED = CONFIG.replace("authorized_users: [thomas]", "authorized_users: [dliu]")
INVALID = [
    "collections: [not, a, mapping]\n",
    "collections:\n  tiny:\n    prefix: tiny/\n    workflows: {}\n",  # no bucket
    "collections:\n  tiny: {bucket: b, workflows: {alpha: {authorized_users: []}}}\n",
    "collections:\n  tiny: {bucket: b, surprise: 1, workflows: {}}\n",
    ": : not yaml [\n",
    "",
]


def visible(api: Any, user: str = "thomas") -> set[str]:
    answer = httpx.get(api.url + "/workflows", headers=api.headers(user), timeout=30)
    assert answer.status_code == 200, answer.text
    return {w["id"] for w in answer.json()["workflows"]}


def test_config_file_invalid_then_valid(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "access.yml"
    path.write_text(CONFIG)
    with serve_api(stack, stack.settings(str(path), config_ttl=0.5)) as api:
        assert visible(api) == {"alpha", "beta"}
        with Steady(api.url, api.headers("thomas"), MIX) as load:
            start = time.monotonic()
            for text in INVALID:
                path.write_text(text)
                time.sleep(0.8)
                assert api.container.access.last_error, text
                assert visible(api) == {"alpha", "beta"}, "the last good config is kept"
            path.unlink()
            time.sleep(0.8)
            assert visible(api) == {"alpha", "beta"}
            path.write_text(REVOKED)
            wait_until(lambda: visible(api) == {"alpha"}, 5)
            during = load.between(start)
        assert api.container.access.last_error is None
    print(f"\nconfig file broken {len(INVALID) + 1} ways: {summary(during)}")
    assert not bad_answers(during, allowed=frozenset(), limit=5)


def test_no_good_config_yet_is_a_503_until_one_appears(
    stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "access.yml"
    path.write_text(INVALID[0])
    with serve_api(stack, stack.settings(str(path), config_ttl=0.5)) as api:
        answer = httpx.get(api.url + "/workflows", headers=api.headers("thomas"), timeout=30)
        assert answer.status_code == 503
        detail = problem(answer)["detail"]
        assert (
            detail.startswith("the service is not configured correctly") and str(path) not in detail
        )
        rid = answer.headers["x-request-id"]
        logged = [r.getMessage() for r in caplog.records if rid in r.getMessage()]
        assert any("collections" in m for m in logged), "the operators read the bad key"
        assert httpx.get(api.url + "/readyz", timeout=30).json()["checks"]["config"] != "ok"
        path.write_text(CONFIG)
        wait_until(lambda: httpx.get(api.url + "/readyz", timeout=30).status_code == 200, 10)
        assert visible(api) == {"alpha", "beta"}


def test_ssm_parameter_invalid_unreachable_slow_then_valid(
    stack: Stack, aws: dict[str, Any], moto_proxy: FaultProxy
) -> None:
    ssm = aws["ssm"]
    ssm.put_parameter(Name=PARAMETER, Value=CONFIG, Type="SecureString", Overwrite=True)
    settings = stack.settings(f"ssm:{PARAMETER}", config_ttl=0.5)
    with serve_api(stack, settings, ssm_client=ssm) as api:
        assert visible(api) == {"alpha", "beta"}
        with Steady(api.url, api.headers("thomas"), MIX) as load:
            start = time.monotonic()
            for text in INVALID[:3]:
                ssm.put_parameter(
                    Name=PARAMETER, Value=text or " ", Type="SecureString", Overwrite=True
                )
                time.sleep(0.8)
                assert visible(api) == {"alpha", "beta"}
            moto_proxy.down()
            time.sleep(1.5)
            assert visible(api) == {"alpha", "beta"}
            moto_proxy.up()
            moto_proxy.hang = True
            time.sleep(4)  # reads of the parameter now hang for the client's read timeout
            assert visible(api) == {"alpha", "beta"}
            moto_proxy.reset()
            ssm.delete_parameter(Name=PARAMETER)
            time.sleep(0.8)
            assert visible(api) == {"alpha", "beta"}
            ssm.put_parameter(Name=PARAMETER, Value=REVOKED, Type="SecureString", Overwrite=True)
            wait_until(lambda: visible(api) == {"alpha"}, 10)
            during = load.between(start)
    print(f"\nSSM parameter invalid, unreachable, silent, deleted: {summary(during)}")
    assert not bad_answers(during, allowed=frozenset(), limit=5), bad_answers(
        during, frozenset(), 5
    )


def test_ssm_parameter_missing_at_start(stack: Stack, aws: dict[str, Any]) -> None:
    settings = stack.settings(f"ssm:{PARAMETER}", config_ttl=0.5)
    with serve_api(stack, settings, ssm_client=aws["ssm"]) as api:
        answer = httpx.get(api.url + "/data-selections", headers=api.headers("thomas"), timeout=30)
        assert answer.status_code == 503
        problem(answer)
        aws["ssm"].put_parameter(Name=PARAMETER, Value=CONFIG, Type="SecureString", Overwrite=True)
        wait_until(lambda: httpx.get(api.url + "/readyz", timeout=30).status_code == 200, 10)
        assert visible(api) == {"alpha", "beta"}
