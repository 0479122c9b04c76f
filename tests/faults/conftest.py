"""Fault suite fixtures: the shared stack (with its proxies) and an API over a small config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.steady import Call
from tests.security.stack import STAGING, Api, Stack, release_after, serve_api, shared_stack

CONFIG = """
collections:
  tiny:
    bucket: edrn-data
    prefix: tiny/
    workflows:
      alpha:
        authorized_users: [thomas, dliu]
      beta:
        authorized_users: [thomas]
"""

MIX = [
    Call("data-selections", "GET", "/data-selections"),
    Call("workflows", "GET", "/workflows"),
    Call("workflow", "GET", "/workflows/alpha"),
    Call("runs", "GET", "/workflows/alpha/runs"),
    Call("dry-run", "POST", "/workflows/alpha/runs?dry_run=true", {"in_data_selection": "tiny"}),
    Call("outputs", "GET", "/output-data/steady/"),
]
ENGINE_CALLS = {"workflow", "runs", "dry-run"}  # always ask Airflow (no cache in between)
STORAGE_CALLS = {"outputs"}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        release_after(item)  # after the test's own fixtures are torn down


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    return shared_stack(request.config, tmp_path_factory.mktemp("hardening"))


@pytest.fixture(scope="session")
def fault_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "access.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def api(stack: Stack, fault_config: Path) -> Iterator[Api]:
    s3 = stack.s3_client(direct=True)
    s3.put_object(Bucket=STAGING, Key="thomas/steady/data.csv", Body=b"1,2\n")
    s3.put_object(Bucket=STAGING, Key="thomas/steady/data.csv.cfg", Body=b"[data.csv]\nk = v\n")
    with serve_api(stack, stack.settings(str(fault_config))) as served:
        yield served


@pytest.fixture(autouse=True)
def healthy_stack(stack: Stack) -> Iterator[None]:
    """Every fault test starts and ends with every proxy forwarding."""
    for proxy in (stack.airflow_proxy, stack.s3_proxy):
        proxy.reset()
    yield
    for proxy in (stack.airflow_proxy, stack.s3_proxy):
        proxy.reset()
