"""The request deadline: what it is, how each wait is fitted to it, and the 504 at the edge."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from labcas_workflow_api import deadline
from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.deadline import (
    BoundedClients,
    DeadlineMiddleware,
    fit,
    lambda_budget,
    within,
    worst_case,
)
from labcas_workflow_api.domain.errors import DeadlineExceeded, UpstreamTimeout, UpstreamUnavailable
from labcas_workflow_api.domain.models import Workflow
from labcas_workflow_api.engines.airflow import AirflowEngine
from labcas_workflow_api.engines.airflow.transport import MIN_TRY, RetryTransport
from labcas_workflow_api.engines.mwaa import mwaa_engine
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.http.deps import ENGINE, off_loop
from labcas_workflow_api.settings import Settings
from tests.unit.fakes import SECRET, FakeEngine, FakeStore, write_config


class Clock:
    """``time.monotonic`` for the deadline module, moved by hand (``sleep`` moves it too)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(deadline, "time", fake)
    return fake


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


class LambdaContext:
    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - time.monotonic()) * 1000)


class TestTheDeadline:
    def test_outside_a_request_there_is_none(self) -> None:
        assert deadline.remaining() is None
        assert not deadline.expired()
        assert deadline.bounded(10.0, "x") == 10.0
        deadline.check("x")

    def test_within_sets_it_and_restores_the_previous_one(self, clock: Clock) -> None:
        with within(5):
            assert deadline.remaining() == pytest.approx(5 - deadline._RESERVE)
            with within(None):
                assert deadline.remaining() is None
            clock.sleep(2)
            assert deadline.bounded(10.0, "x") == pytest.approx(3 - deadline._RESERVE)
            assert deadline.bounded(1.0, "x") == 1.0
            assert deadline.bounded(None, "x") == pytest.approx(3 - deadline._RESERVE)
        assert deadline.remaining() is None

    def test_past_it_every_wait_is_refused_naming_the_budget(self, clock: Clock) -> None:
        with within(4):
            clock.sleep(4)
            assert deadline.expired()
            with pytest.raises(DeadlineExceeded, match=r"4 s deadline \(Airflow\)") as raised:
                deadline.bounded(10.0, "Airflow")
            assert raised.value.status == 504

    def test_a_thread_of_off_loop_sees_the_callers_deadline(self) -> None:
        async def remaining_in_a_thread() -> float | None:
            with within(30):
                return await off_loop(ENGINE, deadline.remaining)

        left = asyncio.run(remaining_in_a_thread())
        assert left is not None and 29 < left <= 30

    @pytest.mark.parametrize(
        ("remaining_ms", "limit", "budget"),
        [(8000, None, 7.0), (8000, 4.0, 4.0), (30_000, 50.0, 29.0), (500, None, 0.0)],
    )
    def test_lambda_budget(self, remaining_ms: int, limit: float | None, budget: float) -> None:
        class Context:
            def get_remaining_time_in_millis(self) -> int:
                return remaining_ms

        assert lambda_budget(Context(), limit) == budget
        assert lambda_budget(None, limit) == limit


class TestFit:
    @pytest.mark.parametrize(
        ("left", "configured", "shape"),
        [
            (60.0, (5.0, 10.0, 3), (5.0, 10.0, 3)),  # standalone server: as configured
            (27.0, (5.0, 10.0, 3), (5.0, 10.0, 1)),  # Lambda: the full read, once
            (9.0, (1.0, 3.0, 2), (1.0, 3.0, 2)),  # the authorizer's first read
            (5.0, (1.0, 3.0, 2), (1.0, 3.0, 1)),
            (3.75, (5.0, 10.0, 3), (0.7, 2.8, 1)),  # shorter, in half-second steps
            (0.6, (1.0, 3.0, 2), (0.1, 0.4, 1)),
            (0.4, (1.0, 3.0, 2), None),
        ],
    )
    def test_table(
        self,
        left: float,
        configured: tuple[float, float, int],
        shape: tuple[float, float, int] | None,
    ) -> None:
        assert fit(left, *configured) == (pytest.approx(shape) if shape else None)

    @given(
        left=st.floats(0, 120),
        connect=st.floats(0.1, 10),
        read=st.floats(0.1, 60),
        attempts=st.integers(1, 5),
    )
    def test_a_fitted_call_never_outlasts_the_time_left(
        self, left: float, connect: float, read: float, attempts: int
    ) -> None:
        shape = fit(left, connect, read, attempts)
        if shape is None:
            assert left < 0.5
        else:
            assert worst_case(*shape) <= left
            assert shape[0] <= connect and shape[1] <= read and shape[2] <= attempts


class TestBoundedClients:
    def clients(self) -> tuple[BoundedClients, list[Config]]:
        made: list[Config] = []

        def make(config: Config) -> object:
            made.append(config)
            return object()

        return BoundedClients(make, connect=5.0, read=10.0, attempts=3), made

    def test_without_a_deadline_the_configured_client(self) -> None:
        clients, made = self.clients()
        assert clients.get() is clients.get() is clients.configured()
        (config,) = made
        assert (config.connect_timeout, config.read_timeout) == (5.0, 10.0)
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}

    def test_under_a_deadline_a_client_that_fits_one_per_shape(self, clock: Clock) -> None:
        clients, made = self.clients()
        with within(27.2):
            first = clients.get()
            assert clients.get() is first
            clock.sleep(23)
            shorter = clients.get()
        assert shorter is not first
        assert [
            (c.connect_timeout, c.read_timeout, c.retries["total_max_attempts"]) for c in made
        ] == [
            (5.0, 10.0, 1),
            (0.8, 3.2, 1),
        ]

    def test_no_time_left_is_a_504_before_any_call(self, clock: Clock) -> None:
        clients, made = self.clients()
        with within(0.5), pytest.raises(DeadlineExceeded, match="no time left for a AWS call"):
            clients.get()
        assert made == []

    def test_a_fixed_client_is_used_as_it_is(self, clock: Clock) -> None:
        client = object()
        clients = BoundedClients.fixed(client)
        with within(1):
            assert clients.get() is client
            clock.sleep(1)
            with pytest.raises(DeadlineExceeded):
                clients.get()

    def test_a_silent_aws_endpoint_is_given_the_time_left_only(self, silent_port: int) -> None:
        """A real botocore client against a socket that never answers: configured, one call
        would take 2 x (1 + 3) s; with 2.5 s left, it is answered within them."""
        from labcas_workflow_api.access_source import read_parameter

        def make(config: Config) -> Any:
            return boto3.client(
                "ssm",
                region_name="us-east-1",
                endpoint_url=f"http://127.0.0.1:{silent_port}",
                aws_access_key_id="x",
                aws_secret_access_key="y",
                config=config,
            )

        clients = BoundedClients(make, connect=1.0, read=3.0, attempts=2)
        began = time.monotonic()
        with within(2.5), pytest.raises(UpstreamUnavailable, match="Read timeout"):
            read_parameter("/labcas/config", clients)
        assert time.monotonic() - began < 2.5


def engine_over(handler: Any, **options: Any) -> AirflowEngine:
    return AirflowEngine(
        "http://airflow.test",
        "admin",
        "pw",
        api_version="v1",
        transport=httpx.MockTransport(handler),
        **options,
    )


class TestEngineTransport:
    def test_each_try_waits_no_longer_than_the_time_left(self, clock: Clock) -> None:
        seen: list[dict[str, float]] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(dict(request.extensions["timeout"]))
            return httpx.Response(200, json={"dags": [], "total_entries": 0})

        engine = engine_over(handler, timeout=10.0)
        engine.list_workflows()
        with within(3.2):
            engine.list_workflows()
        assert seen[0] == {"connect": 5.0, "read": 10.0, "write": 10.0, "pool": 10.0}
        assert seen[1] == pytest.approx({"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0})

    def test_retries_stop_when_too_little_time_is_left(self, clock: Clock) -> None:
        calls: list[float] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(clock.now)
            return httpx.Response(503, json={"detail": "busy"})

        transport = RetryTransport(httpx.MockTransport(handler), retries=2, sleep=clock.sleep)
        request = httpx.Request("GET", "http://airflow.test/x", extensions={"labcas.retry": True})
        assert transport.handle_request(request).status_code == 503
        assert len(calls) == 3
        calls.clear()
        with within(0.2 + MIN_TRY + 0.2 + 0.1 + deadline._RESERVE):
            assert transport.handle_request(request).status_code == 503
        assert len(calls) == 2  # a third try would need 0.4 s of pause and MIN_TRY

    def test_no_time_left_is_a_504_without_asking_airflow(self, clock: Clock) -> None:
        calls: list[httpx.Request] = []
        engine = engine_over(lambda r: calls.append(r) or httpx.Response(200), timeout=10.0)
        with within(0.1), pytest.raises(DeadlineExceeded, match="Airflow: GET /api/v1/dags"):
            engine.list_workflows()
        assert calls == []

    def test_a_timeout_at_the_deadline_is_a_deadline_exceeded(self, clock: Clock) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            clock.sleep(request.extensions["timeout"]["read"])
            raise httpx.ReadTimeout("silent", request=request)

        with within(4), pytest.raises(DeadlineExceeded, match="4 s deadline"):
            engine_over(handler, timeout=10.0).list_workflows()

    def test_a_silent_mwaa_is_given_the_time_left_only(self, silent_port: int) -> None:
        """Before the deadline, one ``InvokeRestApi`` could take 3 x 10 s and the engine's
        retries more; with 2.5 s left it is answered within them."""

        def make(config: Config) -> Any:
            return boto3.client(
                "mwaa",
                region_name="us-east-1",
                endpoint_url=f"http://127.0.0.1:{silent_port}",
                aws_access_key_id="x",
                aws_secret_access_key="y",
                config=config.merge(Config(inject_host_prefix=False)),
            )

        engine = mwaa_engine("env", make_client=make, api_version="v2", timeout=10.0)
        began = time.monotonic()
        with within(2.5), pytest.raises(UpstreamTimeout):
            engine.list_workflows()
        assert time.monotonic() - began < 2.5


class SlowEngine(FakeEngine):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def list_workflows(self) -> list[Workflow]:
        time.sleep(self.seconds)
        return super().list_workflows()


def app_client(tmp_path: Path, engine: FakeEngine, **settings: Any) -> TestClient:
    config = Settings(
        config=str(write_config(tmp_path)),
        jwt_secret=SECRET,
        allowed_origins="https://ui.example",
        _env_file=None,  # type: ignore[call-arg]
        **settings,
    )
    app = create_app(container=build_container(config, engine=engine, store=FakeStore()))
    return TestClient(app, raise_server_exceptions=False)


class TestTheEdge:
    def test_a_request_still_waiting_at_its_deadline_is_a_504_problem(
        self, tmp_path: Path, auth: Any
    ) -> None:
        client = app_client(tmp_path, SlowEngine(3), request_timeout=0.5)
        began = time.monotonic()
        answer = client.get(
            "/workflows", headers={**auth("thomas"), "Origin": "https://ui.example"}
        )
        assert time.monotonic() - began < 1.5
        assert answer.status_code == 504
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["title"] == "Deadline exceeded"
        assert "0.5 s deadline" in answer.json()["detail"]
        assert answer.headers["access-control-allow-origin"] == "https://ui.example"
        assert answer.headers["x-request-id"]

    def test_a_request_within_its_deadline_is_untouched(self, tmp_path: Path, auth: Any) -> None:
        client = app_client(tmp_path, SlowEngine(0.1), request_timeout=5)
        assert client.get("/workflows", headers=auth("thomas")).status_code == 200

    def test_on_lambda_the_remaining_time_less_the_margin(self) -> None:
        seen: list[float | None] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(deadline.remaining())
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def call(context: Any) -> None:
            scope = {"type": "http", "method": "GET", "path": "/", "aws.context": context}
            await DeadlineMiddleware(app, 50)(scope, None, _discard)  # type: ignore[arg-type]

        asyncio.run(call(LambdaContext(8)))
        asyncio.run(call(None))
        reserve = deadline.LAMBDA_MARGIN + deadline._RESERVE
        assert 8 - reserve - 0.5 < seen[0] <= 8 - reserve  # type: ignore[operator]
        assert 50 - deadline._RESERVE - 0.5 < seen[1] <= 50  # type: ignore[operator]

    def test_a_streamed_answer_is_ended_at_the_deadline_with_a_note(self) -> None:
        sent: list[dict[str, Any]] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            headers = [(b"content-type", b"text/plain; charset=utf-8")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"line 1\n", "more_body": True})
            await asyncio.sleep(10)
            await send({"type": "http.response.body", "body": b"late\n"})

        async def record(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/log"}
        began = time.monotonic()
        asyncio.run(DeadlineMiddleware(app, 0.3)(scope, None, record))  # type: ignore[arg-type]
        assert time.monotonic() - began < 1
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        assert body == b"line 1\n\n[LabCAS: the answer was cut at the request deadline]\n"
        assert sent[-1].get("more_body", False) is False

    def test_errors_of_the_app_pass_through(self) -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            raise LookupError("boom")

        scope = {"type": "http", "method": "GET", "path": "/"}
        with pytest.raises(LookupError):
            asyncio.run(DeadlineMiddleware(app, 5)(scope, None, _discard))  # type: ignore[arg-type]


async def _discard(message: Any) -> None:
    return None
