"""The client and CLI for a scientist's day: every run in one list (with its workflow and
folder), cancelled runs, links for people, whole logs across pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labcas_workflow_api.client.api import LabcasClient
from labcas_workflow_api.client.cli import app
from tests.unit.client_fake_api import API, TOKEN, FakeApi, isolate_cli

RUN_IDS = ("labcas__thomas__20261128T074837157203", "labcas__thomas__k4b6e0c2a9f1d3b5e7a8c0d2e")
WEB = f"{API}/ui/#/run/nebraska_demo/{RUN_IDS[0]}"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(tmp_path, monkeypatch, columns=80)


@pytest.fixture
def fake() -> FakeApi:
    fake = FakeApi()
    fake.runs = [
        {
            "run_id": RUN_IDS[0],
            "status": "cancelled",
            "start_time": "2026-11-28T07:48:37+00:00",
            "end_time": "2026-11-28T07:49:02+00:00",
            "output_folder": "20261128T074837157203/",
            "output_url": f"{API}/output-data/20261128T074837157203/",
            "web_url": WEB,
            "conf": {"in_data_selection": "nebraska_images", "tile_size": 32},
        },
        {
            "run_id": RUN_IDS[1],
            "workflow_id": "labcas_sleep",
            "status": "running",
            "start_time": "2026-11-28T07:05:37+00:00",
            "output_folder": "20261128T070537643957/",
        },
    ]
    return fake


def cli(fake: FakeApi, *args: str) -> Any:
    return CliRunner().invoke(
        app, ["--api-url", API, "--token", TOKEN, *args], obj={"http": fake.client()}
    )


class TestEveryRun:
    def test_the_client_lists_every_workflows_runs(self, fake: FakeApi) -> None:
        client = LabcasClient(API, TOKEN, http=fake.client())
        assert [r.workflow_id for r in client.runs()] == ["nebraska_demo", "labcas_sleep"]
        assert fake.requests[-1].url.path == "/runs"

    def test_at_80_columns_each_run_says_its_workflow_and_folder(self, fake: FakeApi) -> None:
        result = cli(fake, "runs")
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), result.stdout
        assert RUN_IDS[0] in lines and RUN_IDS[1] in lines
        assert "  workflow nebraska_demo · folder 20261128T074837157203/" in lines
        assert "  workflow labcas_sleep · folder 20261128T070537643957/" in lines
        assert "cancelled" in result.stdout

    def test_wide_a_table_with_workflow_and_folder_columns(
        self, fake: FakeApi, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("COLUMNS", "200")
        result = cli(fake, "runs")
        header = next(line for line in result.stdout.splitlines() if "Workflow" in line)
        assert "Run" in header and "Folder" in header
        row = next(line for line in result.stdout.splitlines() if RUN_IDS[0] in line)
        assert "nebraska_demo" in row and "20261128T074837157203/" in row

    def test_one_workflows_runs_show_their_folder(
        self, fake: FakeApi, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("COLUMNS", "200")
        result = cli(fake, "runs", "nebraska_demo", "--status", "cancelled")
        assert result.exit_code == 0, result.output
        assert fake.requests[-1].url.params["status"] == "cancelled"
        assert "Workflow" not in result.stdout and "Folder" in result.stdout
        assert RUN_IDS[1] not in result.stdout


class TestOneRun:
    def test_status_gives_the_folder_the_web_page_and_how_far_a_cancel_got(
        self, fake: FakeApi
    ) -> None:
        fake.tasks = [
            {"task_id": "list_inputs", "state": "success", "try_number": 1},
            {"task_id": "segment", "state": "success", "try_number": 1},
            {"task_id": "summarize", "state": "upstream_failed", "try_number": 0},
        ]
        result = cli(fake, "status", "nebraska_demo", RUN_IDS[0])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert "Folder: 20261128T074837157203/" in lines
        assert f"Web page: {WEB}" in lines  # whole, to be clicked
        assert "Progress: cancelled after 2 of 3 tasks" in lines
        assert not any("/output-data/" in line for line in lines)

    def test_without_the_web_app_the_outputs_link_is_given(self, fake: FakeApi) -> None:
        del fake.runs[0]["web_url"]
        result = cli(fake, "status", "nebraska_demo", RUN_IDS[0])
        assert f"Outputs: {API}/output-data/20261128T074837157203/" in result.stdout

    def test_wait_ends_with_the_web_page_and_a_cancelled_run_exits_1(self, fake: FakeApi) -> None:
        fake.statuses = ["running", "cancelled"]
        result = cli(fake, "status", "nebraska_demo", RUN_IDS[0], "--wait", "--interval", "0.2")
        assert result.exit_code == 1
        assert f"Web page: {WEB}" in result.stdout.splitlines()


class TestLogs:
    LOG = b"".join(f"line {i:02d} of the task\n".encode() for i in range(12)) + b"tail"

    def test_every_page_is_followed_and_the_notes_left_out(self, fake: FakeApi) -> None:
        fake.log, fake.log_page = self.LOG, 64
        result = cli(fake, "logs", "nebraska_demo", RUN_IDS[0], "segment")
        assert result.exit_code == 0, result.output
        assert result.stdout == self.LOG.decode()
        pages = [r for r in fake.requests if r.url.path.endswith("/logs")]
        assert len(pages) > 3 and all(r.url.host == "api.test" for r in pages)

    def test_a_line_longer_than_a_page_is_put_back_together(self, fake: FakeApi) -> None:
        fake.log, fake.log_page = b"x" * 150 + "é\n".encode() + b"end\n", 40
        client = LabcasClient(API, TOKEN, http=fake.client())
        assert client.task_log("nebraska_demo", RUN_IDS[0], "segment") == fake.log.decode()

    def test_a_whole_log_is_one_request(self, fake: FakeApi) -> None:
        result = cli(fake, "logs", "nebraska_demo", RUN_IDS[0], "segment")
        assert result.stdout == "line 1\nline 2\n"
        assert len([r for r in fake.requests if r.url.path.endswith("/logs")]) == 1


class TestTopFolder:
    """``outputs`` at the top: each run's folder says its run, the id whole on one line."""

    def test_each_run_folder_names_its_run_at_80_columns(self) -> None:
        from rich.console import Console

        from labcas_workflow_api import wire
        from labcas_workflow_api.client import render

        run = {
            "run_id": RUN_IDS[1],
            "workflow_id": "nebraska_demo",
            "status": "cancelled",
            "start_time": "2026-11-28T07:48:37+00:00",
            "end_time": None,
            "conf": {"in_data_selection": "nebraska_images", "tile_size": 32},
            "href": f"{API}/workflows/nebraska_demo/runs/{RUN_IDS[1]}",
            "partial": True,
        }
        listing = wire.Folder.model_validate(
            {
                "prefix": "",
                "folders": {
                    "20261128T074837157203/": {"href": f"{API}/output-data/x/", "run": run},
                    "imported/": {"href": f"{API}/output-data/imported/"},
                },
                "files": {},
            }
        )
        console = Console(width=80, record=True, color_system=None)
        console.print(render.outputs(listing, ""))
        lines = console.export_text().splitlines()
        assert all(len(line) <= 80 for line in lines)
        assert any(RUN_IDS[1] in line for line in lines)  # never wrapped
        assert any("cancelled · nebraska_demo · partial" in line for line in lines)
        text = " ".join(lines)
        assert "in_data_selection" in text and "imported/" in text
