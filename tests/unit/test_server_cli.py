"""The `labcas-workflow-api` command: check-config and token."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from labcas_workflow_api.auth.jwt import TokenVerifier
from labcas_workflow_api.auth.secrets import FixedSecret
from labcas_workflow_api.cli import app
from tests.unit.fakes import CONFIG, SECRET

runner = CliRunner()


def test_check_config_summarizes_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "a.yml"
    path.write_text(CONFIG)
    result = runner.invoke(app, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert "3 data selection(s), 3 user(s)" in result.output


def test_check_config_names_the_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "a.yml"
    path.write_text("collections:\n  nebraska_images:\n    prefix: x/\n")
    result = runner.invoke(app, ["check-config", str(path)])
    assert result.exit_code == 1
    assert "collections.nebraska_images.bucket: field required" in result.output


def test_check_config_uses_labcas_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.yml"
    path.write_text(CONFIG)
    monkeypatch.setenv("LABCAS_CONFIG", str(path))
    assert runner.invoke(app, ["check-config"]).exit_code == 0


def test_token_is_verifiable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABCAS_JWT_SECRET", SECRET)
    result = runner.invoke(app, ["token", "--user", "thomas", "--ttl", "60"])
    assert result.exit_code == 0, result.output
    assert TokenVerifier(FixedSecret(SECRET)).verify(result.output.strip()).username == "thomas"


def test_token_without_secret_fails_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LABCAS_JWT_SECRET", "LABCAS_JWT_SECRET_FILE", "LABCAS_JWT_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(app, ["token", "--user", "thomas"])
    assert result.exit_code == 1
    assert "LABCAS_JWT_SECRET" in result.output


def test_token_refuses_bad_user_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABCAS_JWT_SECRET", SECRET)
    assert runner.invoke(app, ["token", "--user", "uid=x,dc=y"]).exit_code == 1
    assert runner.invoke(app, ["token", "--user", "thomas\n"]).exit_code == 1


def test_devstack_secrets_are_written_owner_only(tmp_path: Path) -> None:
    from labcas_workflow_api.devstack.stack import write_private

    path = tmp_path / "token"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new-token")
    assert path.read_text() == "new-token"
    assert path.stat().st_mode & 0o777 == 0o600
    fresh = tmp_path / "secret"
    write_private(fresh, "s")
    assert fresh.stat().st_mode & 0o777 == 0o600
