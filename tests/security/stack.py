"""The local stack shared by the security and fault suites, and helpers to serve the API on it.

One Airflow 3 (cached virtualenv, the cheap DAGs of ``dags/``), one SeaweedFS and, on demand,
one moto server, all on 127.0.0.1, each behind a ``FaultProxy`` so the fault suite can cut,
slow or restart them. Started once per pytest session by whichever suite asks first (both
conftests call ``shared_stack``) and stopped after the last test that uses it (tests/release.py).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Match

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.bootstrap import Container, build_container
from labcas_workflow_api.devstack.airflow import AirflowServer
from labcas_workflow_api.devstack.airflow_venv import ensure_airflow_venv
from labcas_workflow_api.devstack.moto import MotoServer, start_moto
from labcas_workflow_api.devstack.process import free_port
from labcas_workflow_api.devstack.seaweed import SeaweedS3, start_seaweed
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.settings import Settings
from labcas_workflow_api.storage.s3 import S3Store
from tests.faults.proxy import FaultProxy
from tests.integration.api_fixtures import serve_app
from tests.integration.storage_fixtures import s3_store
from tests.release import track
from tests.support import polling

DAGS = Path(__file__).resolve().parent / "dags"
DEPLOYED = ("alpha", "beta", "gamma", "frozen")
PAUSED = ("frozen",)
STAGING = "labcas-staging"
DATA = "edrn-data"
SECRET = "hardening-secret-0123456789abcdef-0123456789abcdef"


@dataclass
class Stack:
    work: Path
    airflow: AirflowServer
    s3: SeaweedS3
    airflow_proxy: FaultProxy
    s3_proxy: FaultProxy
    _moto: MotoServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def moto(self) -> MotoServer:
        with self._lock:
            if self._moto is None:
                self._moto = start_moto(log_path=self.work / "moto.log")
            return self._moto

    def s3_client(self, *, direct: bool = False) -> Any:
        """boto3 S3 client; through the proxy (as the API sees S3) unless ``direct``."""
        if direct:
            return self.s3.client()
        return dataclasses.replace(self.s3, endpoint_url=self.s3_proxy.url).client(
            retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5
        )

    def settings(self, config: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "config": config,
            "config_ttl": 1,
            "engine": "airflow3",
            "engine_url": self.airflow_proxy.url,
            "engine_username": self.airflow.username,
            "engine_password": self.airflow.password,
            "engine_timeout": 3,
            "staging_bucket": STAGING,
            "s3_endpoint_url": self.s3_proxy.url,
            "jwt_secret": SECRET,
            "allowed_origins": "http://127.0.0.1",
            "stage": "dev",
        }
        values.update(overrides)
        return Settings(**values, _env_file=None)  # type: ignore[call-arg]

    def store(self) -> S3Store:
        return s3_store(
            self.s3, self.s3_proxy.url, connect_timeout=2, read_timeout=5, max_attempts=2
        )

    def stop_s3(self) -> None:
        self.s3.stop()

    def start_s3(self) -> None:
        """Start SeaweedFS again on the same data (on new ports, behind the same proxy)."""
        if self.s3.running:
            return
        self.s3 = start_seaweed(
            self.work / "s3", access_key=self.s3.access_key, secret_key=self.s3.secret_key
        )
        self.s3_proxy.retarget(int(self.s3.endpoint_url.rsplit(":", 1)[1]))

    def stop(self) -> None:
        for proxy in (self.airflow_proxy, self.s3_proxy):
            proxy.stop()
        self.airflow.stop()
        self.s3.stop()
        if self._moto is not None:
            self._moto.stop()


_stack: Stack | None = None
_stack_lock = threading.Lock()


def shared_stack(config: pytest.Config, work: Path) -> Stack:
    """The session's stack, started on first use and stopped after the last test using it."""
    global _stack
    with _stack_lock:
        if _stack is None:
            _stack = _start(work)
            config.add_cleanup(track("stack", _stop_shared))
        return _stack


def _stop_shared() -> None:
    global _stack
    if _stack is not None:
        _stack.stop()
        _stack = None


def _start(work: Path) -> Stack:
    s3 = start_seaweed(work / "s3", buckets=(STAGING, DATA))
    s3_proxy = FaultProxy(int(s3.endpoint_url.rsplit(":", 1)[1]))
    airflow = AirflowServer(
        ensure_airflow_venv(),
        dags_folder=DAGS,
        home=work / "airflow",
        extra_env={**s3.env(), "LABCAS_S3_ENDPOINT_URL": s3_proxy.url},
    )
    airflow_proxy = FaultProxy(airflow.port)
    stack = Stack(work, airflow, s3, airflow_proxy, s3_proxy)
    try:
        airflow.start()
        airflow.wait_ready(timeout=240)
        for dag_id in DEPLOYED:
            airflow.wait_for_dag(dag_id, timeout=180)
    except BaseException:
        stack.stop()
        raise
    return stack


@dataclass
class Api:
    """The API served over real HTTP (uvicorn in a thread) on the shared stack."""

    url: str
    settings: Settings
    container: Container
    app: Any
    secret: str = SECRET

    def routes(self) -> list[tuple[str, str]]:
        """Every (method, path template) the app serves at the root (HEAD aside)."""
        found: set[tuple[str, str]] = set()

        def walk(routes: list[Any]) -> None:
            for route in routes:
                inner = getattr(route, "original_router", None)
                if inner is not None:
                    walk(inner.routes)
                elif isinstance(getattr(route, "methods", None), set):
                    found.update((m, route.path) for m in route.methods - {"HEAD"})

        walk(self.app.router.routes)
        return sorted(found)

    def serves(self, method: str, path: str) -> bool:
        """Whether some route of the app answers ``method path`` (routes differ by issue)."""
        scope = {"type": "http", "path": path, "method": method, "root_path": ""}
        return any(route.matches(scope)[0] == Match.FULL for route in self.app.router.routes)

    def token(self, user: str, ttl: int = 3600) -> str:
        return mint_token(self.secret, user, ttl=ttl)

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}


@contextmanager
def serve_api(stack: Stack, settings: Settings, **ports: Any) -> Iterator[Api]:
    container = build_container(settings, store=stack.store(), **ports)
    app = create_app(container=container, allowed_hosts=settings.hosts)  # as ``serve`` does
    served = serve_app(app, settings)
    try:
        yield Api(served.url, settings, container, app)
    finally:
        served.stop()


@dataclass
class ServeProcess:
    """``labcas-workflow-api serve`` in its own process; its stderr and stdout in ``log``."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def lines(self, logger: str) -> list[str]:
        """The messages the server logged on ``logger``, in order."""
        marker = f" {logger} "
        text = self.log.read_text(errors="replace")
        return [line.split(marker, 1)[1] for line in text.splitlines() if marker in line]


@contextmanager
def serve_process(
    stack: Stack, config: Path, log_dir: Path, workers: int = 1, **env: str
) -> Iterator[ServeProcess]:
    """``labcas-workflow-api serve`` on a free port over the stack, with ``LABCAS_*`` (or
    other) variables ``env`` on top of the stack's; stopped on exit."""
    port = free_port()
    variables = {
        **os.environ,
        **stack.s3.env(),
        "LABCAS_S3_ENDPOINT_URL": stack.s3_proxy.url,
        "LABCAS_CONFIG": str(config),
        "LABCAS_ENGINE_URL": stack.airflow_proxy.url,
        "LABCAS_ENGINE_USERNAME": stack.airflow.username,
        "LABCAS_ENGINE_PASSWORD": stack.airflow.password,
        "LABCAS_ENGINE_TIMEOUT": "3",
        "LABCAS_STAGING_BUCKET": STAGING,
        "LABCAS_JWT_SECRET": SECRET,
        **env,
    }
    log_path = log_dir / f"serve-{port}.log"
    command = [sys.executable, "-m", "labcas_workflow_api.cli", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, env=variables, stderr=log, stdout=log, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"serve exited: {log_path.read_text()[-2000:]}")
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 30)
        yield ServeProcess(url, log_path, server)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def wait_until(predicate: Any, timeout: float, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy (a timeout on the way is "not
    yet"); ``TimeoutError`` otherwise."""
    return polling.wait_until(predicate, timeout, interval=interval)


def problem(response: httpx.Response) -> dict[str, Any]:
    """The problem+json body of an error answer (asserting its shape)."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert {"type", "title", "detail"} <= body.keys()
    return body


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    return shared_stack(request.config, tmp_path_factory.mktemp("hardening"))
