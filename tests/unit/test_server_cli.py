"""The `labcas-workflow-api` command: check-config, token and the dev stack's first start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from typer.testing import CliRunner

from labcas_workflow_api.auth.jwt import TokenVerifier
from labcas_workflow_api.auth.secrets import FixedSecret
from labcas_workflow_api.cli import app
from labcas_workflow_api.devstack.process import free_port, hold_port
from labcas_workflow_api.devstack.serve import ApiServer
from labcas_workflow_api.devstack.stack import PortUse, banner, port_problems
from tests.unit.fakes import CONFIG, SECRET

runner = CliRunner()
COMMAND = (sys.executable, "-m", "labcas_workflow_api.cli", "devstack")


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


class TestDevstackPorts:
    """`devstack` checks every port before it starts anything, and names the flag that moves
    a busy one."""

    def test_a_busy_api_port_is_refused_before_anything_starts(self, tmp_path: Path) -> None:
        state = tmp_path / "state"
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            began = time.monotonic()
            done = subprocess.run(
                [*COMMAND, "--port", str(port), "--state-dir", str(state)],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "LABCAS_CACHE_DIR": str(tmp_path / "cache")},
            )
        took = time.monotonic() - began
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"port {port} (the API) is already in use" in done.stderr
        assert "--port PORT" in done.stderr
        assert "Nothing was started." in done.stderr
        assert not state.exists() and not (tmp_path / "cache").exists()
        assert took < 20, f"took {took:.1f} s"

    def test_a_busy_airflow_port_names_its_flag(self) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            [problem] = port_problems([PortUse(port, "Airflow", "--airflow-port")])
        assert problem.startswith(f"port {port} (Airflow) is already in use")
        assert problem.endswith("--airflow-port PORT")

    def test_one_port_for_two_servers_is_refused(self) -> None:
        port = free_port()
        uses = [PortUse(port, "the API", "--port"), PortUse(port, "Airflow", "--airflow-port")]
        [problem] = port_problems(uses)
        assert f"both use port {port}" in problem
        assert "--port" in problem and "--airflow-port" in problem

    def test_free_ports_pass(self) -> None:
        assert port_problems([PortUse(free_port(), "the API", "--port")]) == []


class TestDevstackBanner:
    """The dev stack says "ready" (and prints the token) only once the API answers /healthz
    and /readyz says ready."""

    @staticmethod
    def app(seen: list[str], not_ready_times: int) -> FastAPI:
        app = FastAPI()

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            seen.append("healthz 200")
            return {"status": "ok"}

        @app.get("/readyz")
        def readyz() -> JSONResponse:
            ready = seen.count("readyz 503") >= not_ready_times
            seen.append("readyz 200" if ready else "readyz 503")
            return JSONResponse(
                {"status": "ready" if ready else "not ready"}, 200 if ready else 503
            )

        return app

    def test_ready_is_said_after_readyz_says_ready(self) -> None:
        seen: list[str] = []
        server = ApiServer(self.app(seen, 2), hold_port(free_port()), log_level="warning")

        def announce() -> None:
            seen.append("banner")
            server.stop()

        assert server.serve(announce, ready_timeout=30)
        assert seen[-2:] == ["readyz 200", "banner"]
        assert seen.count("readyz 503") == 2
        assert seen.index("healthz 200") < seen.index("banner")

    def test_an_api_never_ready_is_stopped_without_a_banner(self) -> None:
        seen: list[str] = []
        server = ApiServer(self.app(seen, 10_000), hold_port(free_port()), log_level="warning")
        assert not server.serve(lambda: seen.append("banner"), ready_timeout=1)
        assert "banner" not in seen
        assert "/readyz answered 503" in server.not_ready

    def test_the_banner_has_a_token_line_to_paste(self, tmp_path: Path) -> None:
        text = banner("http://127.0.0.1:8000", "abc.def.ghi", tmp_path, "12 s")
        lines = text.splitlines()
        assert "export TOKEN=abc.def.ghi" in lines
        assert (
            'curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/data-selections'
            in lines
        )


def test_devstack_without_its_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from labcas_workflow_api.devstack import stack

    monkeypatch.setattr(stack, "find_spec", lambda name: None if name == "PIL" else object())
    state = tmp_path / "state"
    assert stack.run_devstack(api_port=free_port(), state_dir=str(state)) == 2
    error = capsys.readouterr().err
    assert "missing: pillow" in error and "pip install -e '.[devstack]'" in error
    assert not state.exists()
