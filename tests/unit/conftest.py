"""Unit-test fixtures: the app over in-memory fakes of the engine and the store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.bootstrap import Container, build_container
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.settings import Settings
from tests.unit.fakes import SECRET, FakeEngine, FakeStore, write_config


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        config=str(write_config(tmp_path)),
        jwt_secret=SECRET,
        staging_bucket="labcas-staging",
        allowed_origins="https://ui.example",
        stage="dev",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def container(settings: Settings, engine: FakeEngine, store: FakeStore) -> Container:
    return build_container(settings, engine=engine, store=store)


@pytest.fixture
def client(container: Container) -> TestClient:
    return TestClient(create_app(container=container), raise_server_exceptions=False)


@pytest.fixture
def auth() -> Callable[[str], dict[str, str]]:
    def headers(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(SECRET, user)}"}

    return headers
