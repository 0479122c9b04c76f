"""Security suite fixtures: the shared stack and the API over a generated access config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.security.matrix import generated_config
from tests.security.stack import Api, Stack, serve_api, stack

__all__ = ["stack"]  # the shared stack


@pytest.fixture(scope="session")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("security") / "access.yml"
    path.write_text(yaml.safe_dump(generated_config(), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def api(stack: Stack, config_path: Path) -> Iterator[Api]:
    with serve_api(stack, stack.settings(str(config_path), config_ttl=60)) as served:
        yield served
