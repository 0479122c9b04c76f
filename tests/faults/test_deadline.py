"""A black-hole engine (it accepts connections and never answers) under the request deadline.

Two engines: ``airflow3``, whose URL is a silent proxy, and ``mwaa``, whose boto3 clients are
answered by the local MWAA stand-in (``GetEnvironment``) except ``InvokeRestApi``, which goes
to a silent endpoint. Two edges: the standalone server (``LABCAS_REQUEST_TIMEOUT`` = 4 s) and
the Lambda handler (a context with 8 s remaining: a 7 s deadline). The engine's own timeout
is 10 s, longer than either deadline, as in production, where one such request took 42 s
before there was a deadline. Every answer must be a 504 problem+json, within the deadline.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from labcas_workflow_api.aws import api
from labcas_workflow_api.aws.api import ApiRuntime
from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.deadline import LAMBDA_MARGIN
from labcas_workflow_api.devstack.process import free_port
from labcas_workflow_api.engines.base import WorkflowEngine
from labcas_workflow_api.engines.mwaa import mwaa_engine
from labcas_workflow_api.http.app import create_app
from tests.faults.proxy import FaultProxy
from tests.security.stack import Stack, problem, serve_api
from tests.support.mwaa import LocalMwaa
from tests.unit.test_aws_events import body_of, header_of, proxy_event

pytestmark = pytest.mark.integration

REQUESTS = 10
ENGINE_TIMEOUT = 10.0
SERVER_DEADLINE = 4.0
LAMBDA_REMAINING = 8.0
PATH = "/workflows/alpha/runs/labcas__thomas__20260101T000000000000"


class LambdaContext:
    """The part of a Lambda context the handlers read: the time left, counting down."""

    def __init__(self, seconds: float) -> None:
        self._ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


@pytest.fixture(scope="module")
def hole() -> Iterator[FaultProxy]:
    """An endpoint that accepts connections and requests and never answers."""
    proxy = FaultProxy(free_port())
    proxy.hang = True
    yield proxy
    proxy.stop()


def airflow3(stack: Stack, hole: FaultProxy) -> WorkflowEngine | None:
    return None  # built from the settings, as in production: engine_url is the black hole


def mwaa(stack: Stack, hole: FaultProxy) -> WorkflowEngine:
    shim = LocalMwaa(stack.airflow)

    def make_client(config: Any) -> Any:
        client = boto3.client(
            "mwaa",
            region_name="us-east-1",
            endpoint_url=hole.url,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=config.merge(Config(inject_host_prefix=False)),  # no "env." before 127.0.0.1
        )
        shim.attach(client)  # GetEnvironment and CreateWebLoginToken answered locally...
        events = client.meta.events
        events.unregister("before-send.mwaa.InvokeRestApi", shim._invoke_rest_api)
        return client  # ...InvokeRestApi sent to the black hole

    return mwaa_engine(shim.name, make_client=make_client, timeout=ENGINE_TIMEOUT, scheme="http")


ENGINES: dict[str, Callable[[Stack, FaultProxy], WorkflowEngine | None]] = {
    "airflow3": airflow3,
    "mwaa": mwaa,
}


def _settings(stack: Stack, config: Path, hole: FaultProxy, **overrides: Any) -> Any:
    return stack.settings(
        str(config), engine_url=hole.url, engine_timeout=ENGINE_TIMEOUT, **overrides
    )


def _report(kind: str, edge: str, deadline: float, seconds: list[float], titles: set[str]) -> None:
    print(
        f"\n{kind} black hole, {edge} (deadline {deadline:g} s), {len(seconds)} requests: "
        f"min {min(seconds):.2f} s, median {statistics.median(seconds):.2f} s, "
        f"max {max(seconds):.2f} s; 504 {' / '.join(sorted(titles))}"
    )


@pytest.mark.parametrize("kind", list(ENGINES))
def test_standalone_server_answers_504_within_the_deadline(
    stack: Stack, fault_config: Path, hole: FaultProxy, kind: str
) -> None:
    settings = _settings(stack, fault_config, hole, request_timeout=SERVER_DEADLINE)
    engine = ENGINES[kind](stack, hole)
    ports = {"engine": engine} if engine is not None else {}
    seconds: list[float] = []
    titles: set[str] = set()
    with serve_api(stack, settings, **ports) as served:
        headers = served.headers("thomas")
        for _ in range(REQUESTS):
            began = time.monotonic()
            answer = httpx.get(served.url + PATH, headers=headers, timeout=30)
            seconds.append(time.monotonic() - began)
            assert answer.status_code == 504, answer.text
            titles.add(problem(answer)["title"])
            assert answer.headers.get("x-request-id")
    _report(kind, "standalone server", SERVER_DEADLINE, seconds, titles)
    assert max(seconds) < SERVER_DEADLINE, seconds


@pytest.mark.parametrize("kind", list(ENGINES))
def test_lambda_handler_answers_504_within_the_deadline(
    stack: Stack,
    fault_config: Path,
    hole: FaultProxy,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings(stack, fault_config, hole)  # LABCAS_REQUEST_TIMEOUT: the default
    assert settings.request_timeout > LAMBDA_REMAINING
    engine = ENGINES[kind](stack, hole)
    ports = {"engine": engine} if engine is not None else {}
    container = build_container(settings, store=stack.store(), **ports)
    runtime = ApiRuntime(create_app(container=container))
    monkeypatch.setattr(api, "_runtime", runtime)
    seconds: list[float] = []
    titles: set[str] = set()
    try:
        for _ in range(REQUESTS):
            event = proxy_event("GET", PATH, username="thomas", template="api_get_run.json")
            began = time.monotonic()
            result = api.handler(event, LambdaContext(LAMBDA_REMAINING))
            seconds.append(time.monotonic() - began)
            assert result["statusCode"] == 504, result
            assert header_of(result, "content-type") == "application/problem+json"
            assert body_of(result)["status"] == 504
            titles.add(body_of(result)["title"])
            assert header_of(result, "access-control-allow-origin"), result
    finally:
        runtime.close()
    deadline = LAMBDA_REMAINING - LAMBDA_MARGIN
    _report(kind, "Lambda handler", deadline, seconds, titles)
    assert max(seconds) < deadline, seconds
