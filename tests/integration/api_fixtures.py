"""The API itself, served over real HTTP by uvicorn in a thread, on the real local stack.

``api_server``: attributes ``url``, ``settings``, ``container``, ``config_path``, ``secret`` and
``token(user)`` / ``headers(user)``. Its access config lets ``thomas`` and ``dliu`` run
``nebraska_demo`` on ``nebraska_images`` (seeded with the demo images) and ``eve`` on
``eve_images``; ``ada`` and ``bob`` may run ``labcas_sleep`` (run control tests) on
``sleep_inputs``; ``mallory`` is in no list.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.bootstrap import Container, build_container
from labcas_workflow_api.devstack.process import free_port
from labcas_workflow_api.devstack.stack import seed_demo_images
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.http.server import bounded_protocol, server_options
from labcas_workflow_api.settings import Settings
from tests.release import track

__all__ = ["ACCESS_CONFIG", "ApiServer", "api_server", "serve_app"]

SECRET = "integration-secret-0123456789abcdef-0123456789abcdef"
ACCESS_CONFIG = """
collections:
  nebraska_images:
    bucket: edrn-data
    prefix: nebraska_images/
    description: Synthetic nuclei images
    workflows:
      nebraska_demo:
        authorized_users: [thomas, dliu]
  eve_images:
    bucket: edrn-data
    prefix: eve_images/
    workflows:
      nebraska_demo:
        authorized_users: [eve]
  sleep_inputs:
    bucket: edrn-data
    prefix: sleep_inputs/
    workflows:
      labcas_sleep:
        authorized_users: [ada, bob]
"""


@dataclass
class ApiServer:
    url: str
    settings: Settings
    container: Container
    config_path: Path
    secret: str

    def token(self, user: str, ttl: int = 3600) -> str:
        return mint_token(self.secret, user, ttl=ttl)

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # run in a thread
        pass


@dataclass
class Served:
    url: str
    server: _Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_app(app: Any, settings: Settings, port: int | None = None) -> Served:
    """Serve an ASGI app on 127.0.0.1 in a daemon thread, with the options and the HTTP
    protocol (its read deadlines, its answers to what cannot be parsed) that
    ``labcas-workflow-api serve`` uses with these settings; wait until it answers."""
    port = port or free_port()
    options = {
        **server_options(settings),
        "http": bounded_protocol(settings.header_timeout, settings.body_timeout),
    }
    server = _Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Served(url, server, thread)
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("API server did not start")


@pytest.fixture(scope="session")
def api_server(
    airflow3: Any, s3_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    seed_demo_images(s3_server)
    config_path = tmp_path_factory.mktemp("api") / "access.yml"
    config_path.write_text(ACCESS_CONFIG)
    settings = Settings(
        config=str(config_path),
        config_ttl=1,
        engine="airflow3",
        engine_url=airflow3.url,
        engine_username=airflow3.username,
        engine_password=airflow3.password,
        staging_bucket="labcas-staging",
        s3_endpoint_url=s3_server.endpoint_url,
        jwt_secret=SECRET,
        allowed_origins="http://127.0.0.1",
        stage="dev",
    )
    from tests.integration.storage_fixtures import s3_store

    store = s3_store(s3_server)
    container = build_container(settings, store=store)
    served = serve_app(create_app(container=container), settings)
    stop = track("api_server", served.stop)
    try:
        yield ApiServer(served.url, settings, container, config_path, SECRET)
    finally:
        stop()
