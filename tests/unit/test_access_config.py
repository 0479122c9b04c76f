"""Access config parsing: strict, with errors naming the key."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from labcas_workflow_api.access_source import AccessConfigSource
from labcas_workflow_api.domain.access import parse_access_config
from labcas_workflow_api.domain.errors import ConfigError
from tests.unit.fakes import CONFIG


def test_valid_config() -> None:
    config = parse_access_config(CONFIG)
    assert config.collections["nebraska_images"].workflows["nebraska_demo"].authorized_users == [
        "thomas",
        "dliu",
    ]
    assert config.users() == {"thomas", "dliu", "eve"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("collections:\n  c1:\n    prefix: x/\n", "collections.c1.bucket: field required"),
        (
            "collections:\n  c1:\n    bucket: b\n    colour: red\n",
            "collections.c1.colour: unknown key",
        ),
        (
            "collections: {c1: {bucket: b, workflows: {w: {authorized_users: []}}}}\n",
            "collections.c1.workflows.w.authorized_users",
        ),
        ("collections:\n  - c1\n", "collections"),
        ("- a\n- b\n", "(document)"),
        ("collections: {c1: {bucket: b, workflows: [w1]}}\n", "collections.c1.workflows"),
        ("collections: [\n", "not valid YAML"),
    ],
)
def test_invalid_configs_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_access_config(text)
    assert message in caught.value.detail


def test_source_rereads_after_ttl_and_keeps_last_good(tmp_path: Path) -> None:
    path = tmp_path / "a.yml"
    path.write_text(CONFIG)
    source = AccessConfigSource(str(path), ttl=0.05)
    assert "private" in source.get().collections
    path.write_text("collections: {only: {bucket: b}}\n")
    time.sleep(0.06)
    assert list(source.get().collections) == ["only"]
    path.write_text("collections: {broken: {}}\n")
    time.sleep(0.06)
    assert list(source.get().collections) == ["only"]
    assert source.last_error is not None and "broken.bucket" in source.last_error


def test_source_without_any_good_config_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        AccessConfigSource(str(tmp_path / "missing.yml")).get()
