"""Fault suite fixtures: the shared stack (with its proxies) and an API over a small config."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.faults.proxy import FaultProxy
from tests.faults.steady import Call
from tests.security.stack import STAGING, Api, Stack, serve_api, stack

__all__ = ["stack"]  # the shared stack

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
PARAMETER = "/labcas/faults/config"
SECRET_ID = "labcas/faults/jwt"
ENGINE_CALLS = {"workflow", "runs", "dry-run"}  # always ask Airflow (no cache in between)
STORAGE_CALLS = {"outputs"}


@pytest.fixture(scope="session")
def fault_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "access.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="session", autouse=True)
def steady_outputs(stack: Stack) -> None:
    """The folder the steady mix browses."""
    s3 = stack.s3_client(direct=True)
    s3.put_object(Bucket=STAGING, Key="thomas/steady/data.csv", Body=b"1,2\n")
    s3.put_object(Bucket=STAGING, Key="thomas/steady/data.csv.cfg", Body=b"[data.csv]\nk = v\n")


@pytest.fixture(scope="module")
def api(stack: Stack, fault_config: Path) -> Iterator[Api]:
    with serve_api(stack, stack.settings(str(fault_config))) as served:
        yield served


@pytest.fixture(autouse=True)
def healthy_stack(stack: Stack) -> Iterator[None]:
    """Every fault test starts with every proxy forwarding and Airflow healthy (a test that
    overloads Airflow does not leave the next one a scheduler still restarting), and ends with
    every proxy forwarding."""
    for proxy in (stack.airflow_proxy, stack.s3_proxy):
        proxy.reset()
    stack.airflow.wait_ready(timeout=120)
    yield
    for proxy in (stack.airflow_proxy, stack.s3_proxy):
        proxy.reset()


@pytest.fixture(scope="module")
def moto_proxy(stack: Stack) -> Iterator[FaultProxy]:
    proxy = FaultProxy(int(stack.moto.endpoint_url.rsplit(":", 1)[1]))
    yield proxy
    proxy.stop()


@pytest.fixture
def aws(moto_proxy: FaultProxy) -> Iterator[dict[str, Any]]:
    moto_proxy.reset()
    options = {
        "endpoint_url": moto_proxy.url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "config": Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1}),
    }
    clients = {
        "ssm": boto3.client("ssm", **options),
        "sm": boto3.client("secretsmanager", **options),
    }
    yield clients
    moto_proxy.reset()
    for call in (
        lambda: clients["ssm"].delete_parameter(Name=PARAMETER),
        lambda: clients["sm"].delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True),
    ):
        with contextlib.suppress(Exception):  # not created by every test
            call()
