"""The labcas-workflows CLI against the in-memory fake API (its HTTP client injected)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labcas_workflow_api.client.cli import app
from labcas_workflow_api.client.config import config_path, read_config
from tests.unit.client_fake_api import API, TOKEN, FakeApi, isolate_cli


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(tmp_path, monkeypatch, columns=200)


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


def cli(fake: FakeApi, *args: str, auth: bool = True, stdin: str | None = None) -> Any:
    prefix = ["--api-url", API, "--token", TOKEN] if auth else []
    return CliRunner().invoke(
        app, [*prefix, *args], obj={"http": fake.client()}, input=stdin, catch_exceptions=False
    )


class TestSignIn:
    def test_login_saves_a_private_config_and_never_echoes_the_token(self, fake: FakeApi):
        result = cli(fake, "login", "--api-url", API, "--token-stdin", auth=False, stdin=TOKEN)
        assert result.exit_code == 0, result.output
        assert TOKEN not in result.output
        assert read_config() == {"api_url": API, "token": TOKEN}
        assert stat.S_IMODE(config_path().stat().st_mode) == 0o600
        again = cli(fake, "data-selections", "--json", auth=False)
        assert json.loads(again.stdout)[0]["id"] == "nebraska_images"

    def test_login_with_a_refused_token_saves_nothing(self, fake: FakeApi):
        result = cli(fake, "login", "--api-url", API, "--token-stdin", auth=False, stdin="bad")
        assert result.exit_code == 2
        assert "401" in result.stderr and "login" in result.stderr
        assert not config_path().exists()

    def test_environment_is_used(self, fake: FakeApi, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("LABCAS_API_URL", API)
        monkeypatch.setenv("LABCAS_TOKEN", TOKEN)
        assert cli(fake, "workflows", auth=False).exit_code == 0

    def test_without_configuration_the_error_says_what_to_do(self, fake: FakeApi):
        result = cli(fake, "workflows", auth=False)
        assert result.exit_code == 2
        assert result.stderr.startswith("error: no API URL: pass --api-url")
        assert "Traceback" not in result.output

    def test_whoami_never_prints_the_token(self, fake: FakeApi):
        result = cli(fake, "whoami")
        assert result.exit_code == 0 and TOKEN not in result.output
        assert "--token" in result.output


class TestListings:
    def test_data_selections_table(self, fake: FakeApi):
        result = cli(fake, "data-selections")
        assert result.exit_code == 0 and "nebraska_images" in result.stdout

    def test_workflows_for_a_data_selection(self, fake: FakeApi):
        result = cli(fake, "workflows", "--data-selection", "nebraska_images", "--json")
        assert json.loads(result.stdout) == [{"id": "nebraska_demo", "description": None}]

    def test_unknown_data_selection_is_one_line_and_exit_2(self, fake: FakeApi):
        result = cli(fake, "workflows", "-d", "nope")
        assert result.exit_code == 2
        assert result.stderr.strip() == "error: 404 Error: no data selection nope"

    def test_describe_shows_parameters(self, fake: FakeApi):
        result = cli(fake, "describe", "nebraska_demo")
        assert result.exit_code == 0
        assert "tile_size" in result.stdout and ">= 8, <= 1024" in result.stdout

    def test_runs_json_and_status_filter(self, fake: FakeApi):
        fake.runs = [
            {"run_id": "a", "status": "failed", "conf": {}},
            {"run_id": "b", "status": "success", "conf": {}},
        ]
        result = cli(fake, "runs", "nebraska_demo", "--status", "success", "--json")
        assert [r["run_id"] for r in json.loads(result.stdout)] == ["b"]

    def test_runs_with_an_unknown_status_is_a_usage_error(self, fake: FakeApi):
        result = cli(fake, "runs", "nebraska_demo", "--status", "done")
        assert result.exit_code == 2 and "--status must be one of" in result.stderr

    def test_status_shows_tasks(self, fake: FakeApi):
        fake.runs = [{"run_id": "r1", "status": "running", "conf": {"tile_size": 8}}]
        result = cli(fake, "status", "nebraska_demo", "r1")
        assert result.exit_code == 0
        assert "segment" in result.stdout and "1/2 tasks" in result.stdout

    def test_status_tells_the_instances_of_a_mapped_task_apart(self, fake: FakeApi):
        fake.runs = [{"run_id": "r1", "status": "running"}]
        fake.tasks = [
            {"task_id": "segment", "map_index": i, "state": "success", "try_number": 1}
            for i in range(3)
        ]
        result = cli(fake, "status", "nebraska_demo", "r1")
        assert result.exit_code == 0
        for i in range(3):
            assert f"segment [{i}]" in result.stdout

    def test_logs_are_printed(self, fake: FakeApi):
        fake.runs = [{"run_id": "r1", "status": "running"}]
        result = cli(fake, "logs", "nebraska_demo", "r1", "segment")
        assert result.stdout == "line 1\nline 2\n"

    def test_cancel_needs_yes_without_a_terminal(self, fake: FakeApi):
        fake.runs = [{"run_id": "r1", "status": "running"}]
        assert cli(fake, "cancel", "nebraska_demo", "r1").exit_code == 2
        result = cli(fake, "cancel", "nebraska_demo", "r1", "--yes")
        assert result.exit_code == 0 and "now cancelled" in result.stdout

    def test_cancel_a_finished_run_says_so(self, fake: FakeApi):
        fake.runs = [{"run_id": "r1", "status": "success"}]
        result = cli(fake, "cancel", "nebraska_demo", "r1", "-y")
        assert result.exit_code == 2 and "already finished" in result.stderr


class TestRun:
    def test_params_are_converted_by_type(self, fake: FakeApi):
        result = cli(
            fake,
            "run",
            "nebraska_demo",
            "-d",
            "nebraska_images",
            "-p",
            "tile_size=32",
            "-p",
            "smooth=yes",
            "--json",
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["run_id"] == "run1"
        body = json.loads(fake.requests[-1].content)
        assert body["params"] == {"tile_size": 32, "smooth": True}

    @pytest.mark.parametrize(
        ("pair", "message"),
        [
            ("tile_size=4", "tile_size must be at least 8, not 4"),
            ("tile_size=big", "tile_size must be a whole number"),
            ("method=x", 'method must be one of "otsu", "li"'),
            ("colour=red", "unknown parameter 'colour'"),
            ("tile_size", "-p expects key=value"),
        ],
    )
    def test_bad_params_are_refused_before_sending(self, fake: FakeApi, pair: str, message: str):
        result = cli(fake, "run", "nebraska_demo", "-d", "nebraska_images", "-p", pair)
        assert result.exit_code == 2 and message in result.stderr
        assert all(r.method == "GET" for r in fake.requests)

    def test_params_file_then_overrides(self, fake: FakeApi, tmp_path: Path):
        params = tmp_path / "p.yml"
        params.write_text("tile_size: 16\nmethod: li\n")
        result = cli(
            fake,
            "run",
            "nebraska_demo",
            "-d",
            "nebraska_images",
            "--params-file",
            str(params),
            "-p",
            "tile_size=24",
        )
        assert result.exit_code == 0 and result.stdout.strip() == "run1"
        assert json.loads(fake.requests[-1].content)["params"] == {"tile_size": 24, "method": "li"}

    def test_params_file_with_a_list_is_refused(self, fake: FakeApi, tmp_path: Path):
        params = tmp_path / "p.json"
        params.write_text("[1, 2]")
        result = cli(fake, "run", "nebraska_demo", "-d", "x", "--params-file", str(params))
        assert result.exit_code == 2 and "must hold a mapping" in result.stderr

    @pytest.mark.parametrize(("final", "code"), [("success", 0), ("failed", 1)])
    def test_wait_exit_code_reflects_the_outcome(self, fake: FakeApi, final: str, code: int):
        fake.statuses = ["queued", "running", final]
        result = cli(
            fake,
            "run",
            "nebraska_demo",
            "-d",
            "nebraska_images",
            "--wait",
            "--interval",
            "0.2",
        )
        assert result.exit_code == code, result.output
        assert final in result.stdout

    def test_dry_run_starts_nothing(self, fake: FakeApi):
        result = cli(fake, "run", "nebraska_demo", "-d", "nebraska_images", "--dry-run")
        assert result.exit_code == 0 and fake.runs == []
        assert "nothing was started" in result.stdout

    def test_dry_run_json_says_validated(self, fake: FakeApi):
        args = ("run", "nebraska_demo", "-d", "nebraska_images", "--dry-run", "--json")
        result = cli(fake, *args)
        assert result.exit_code == 0
        assert json.loads(result.stdout)["status"] == "validated"

    def test_server_side_422_is_shown(self, fake: FakeApi):
        fake.parameters["tile_size"]["schema"] = {"type": "integer"}
        result = cli(fake, "run", "nebraska_demo", "-d", "nebraska_images", "-p", "tile_size=2")
        assert result.exit_code == 2
        assert result.stderr.strip() == "error: 422 Invalid parameters: tile_size: must be >= 8"


class TestOutputs:
    @pytest.fixture(autouse=True)
    def _files(self, fake: FakeApi) -> None:
        fake.files = {"run1/a.csv": b"x,y\n" * 50, "run1/sub/b.txt": b"hello"}
        fake.properties = {"run1/a.csv": {"owner": "thomas"}}

    def test_outputs_table_and_json(self, fake: FakeApi):
        assert "a.csv" in cli(fake, "outputs", "run1").stdout
        listing = json.loads(cli(fake, "outputs", "run1", "--json").stdout)
        assert listing["files"]["a.csv"]["properties"] == {"owner": "thomas"}

    def test_outputs_tree(self, fake: FakeApi):
        result = cli(fake, "outputs", "--tree")
        assert "sub/" in result.stdout and "b.txt" in result.stdout
        paths = [f["path"] for f in json.loads(cli(fake, "outputs", "--tree", "--json").stdout)]
        assert paths == ["run1/a.csv", "run1/sub/b.txt"]

    def test_download_twice_skips_complete_files(self, fake: FakeApi, tmp_path: Path):
        first = cli(fake, "download", "run1", str(tmp_path / "out"))
        assert first.exit_code == 0 and "2 downloaded" in first.stdout
        assert (tmp_path / "out" / "sub" / "b.txt").read_bytes() == b"hello"
        second = cli(fake, "download", "run1", str(tmp_path / "out"))
        assert "2 already complete" in second.stdout

    def test_annotate_merges(self, fake: FakeApi):
        result = cli(fake, "annotate", "run1", "a.csv", "quality=good", "note=two words")
        assert result.exit_code == 0
        assert fake.properties["run1/a.csv"] == {
            "owner": "thomas",
            "quality": "good",
            "note": "two words",
        }
        cli(fake, "annotate", "run1", "a.csv", "--remove", "owner")
        assert "owner" not in fake.properties["run1/a.csv"]

    def test_annotate_without_pairs_is_a_usage_error(self, fake: FakeApi):
        assert cli(fake, "annotate", "run1", "a.csv").exit_code == 2

    def test_annotate_takes_a_file_path(self, fake: FakeApi):
        result = cli(fake, "annotate", "run1/a.csv", "quality=good")
        assert result.exit_code == 0, result.output
        assert fake.properties["run1/a.csv"] == {"owner": "thomas", "quality": "good"}
        assert "Saved 2 properties of a.csv" in result.stdout
        assert cli(fake, "annotate", "run1/a.csv", "-r", "owner", "-r", "quality").exit_code == 0
        assert fake.properties["run1/a.csv"] == {}

    def test_download_defaults_to_a_folder_here_named_after_the_path(
        self, fake: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        monkeypatch.chdir(tmp_path)
        result = cli(fake, "download", "run1")
        assert result.exit_code == 0, result.output
        assert (tmp_path / "run1" / "sub" / "b.txt").read_bytes() == b"hello"
        assert "2 files in run1:" in result.stdout

    def test_one_file_is_one_file(
        self, fake: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        monkeypatch.chdir(tmp_path)
        result = cli(fake, "download", "run1/sub/b.txt")
        assert result.exit_code == 0, result.output
        assert (tmp_path / "b.txt").read_bytes() == b"hello"
        assert "1 file in b.txt:" in result.stdout


RUN_IDS = ("labcas__thomas__20261128T074837157203", "labcas__thomas__20261128T070537643957")


class TestEightyColumns:
    """At 80 columns (a default terminal) ids stay whole on one line, to be copied."""

    @pytest.fixture(autouse=True)
    def _eighty(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("COLUMNS", "80")

    @pytest.fixture
    def runs(self, fake: FakeApi) -> FakeApi:
        fake.runs = [
            {
                "run_id": RUN_IDS[0],
                "status": "success",
                "start_time": "2026-11-28T07:48:37+00:00",
                "end_time": "2026-11-28T07:49:02+00:00",
            },
            {"run_id": RUN_IDS[1], "status": "running", "start_time": "2026-11-28T07:05:37Z"},
        ]
        return fake

    def test_runs_keep_every_run_id_on_one_line(self, runs: FakeApi):
        result = cli(runs, "runs", "nebraska_demo")
        assert result.exit_code == 0
        lines = result.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines)
        for run_id in RUN_IDS:
            assert any(run_id in line for line in lines), result.stdout
        assert "success" in result.stdout and "2026-11-28" in result.stdout

    def test_runs_are_a_table_where_they_fit(self, runs: FakeApi, monkeypatch):
        monkeypatch.setenv("COLUMNS", "120")
        result = cli(runs, "runs", "nebraska_demo")
        rows = [line for line in result.stdout.splitlines() if RUN_IDS[0] in line]
        assert len(rows) == 1 and "success" in rows[0] and "│" in rows[0]

    def test_status_keeps_the_run_and_task_ids_whole(self, runs: FakeApi):
        runs.tasks = [
            {
                "task_id": "segment",
                "map_index": i,
                "state": "upstream_failed",
                "try_number": 1,
                "start_time": "2026-11-28T07:48:40Z",
                "end_time": "2026-11-28T07:48:59Z",
                "duration": 19.0,
            }
            for i in range(3)
        ]
        result = cli(runs, "status", "nebraska_demo", RUN_IDS[0])
        assert result.exit_code == 0
        lines = result.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines)
        assert any(RUN_IDS[0] in line for line in lines)
        for i in range(3):
            assert any(f"segment [{i}]" in line for line in lines), result.stdout
