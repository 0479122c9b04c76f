"""The labcas-workflows command against the real stack (API over HTTP, Airflow 3, SeaweedFS)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from tests.integration.api_fixtures import ApiServer
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration
DEMO = "nebraska_demo"
SLEEP = "labcas_sleep"


class Cli:
    """Runs ``labcas-workflows`` in a subprocess with its own config directory."""

    def __init__(self, api: ApiServer, home: Path) -> None:
        self.api = api
        self.home = home

    def env(self, token: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABCAS_")}
        env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"), COLUMNS="200")
        env["LABCAS_API_URL"] = self.api.url
        if token:
            env["LABCAS_TOKEN"] = token
        return env

    def __call__(
        self,
        *args: str,
        user: str | None = "thomas",
        stdin: str | None = None,
        timeout: float = 60,
        columns: int = 200,
    ) -> subprocess.CompletedProcess[str]:
        token = self.api.token(user) if user else None
        return subprocess.run(
            [sys.executable, "-m", "labcas_workflow_api.client.cli", *args],
            env={**self.env(token), "COLUMNS": str(columns)},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def json(self, *args: str, user: str = "thomas") -> Any:
        done = self(*args, "--json", user=user)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def cli(api_server: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(api_server, tmp_path_factory.mktemp("cli-home"))


@pytest.fixture(scope="module")
def finished_run(cli: Cli) -> dict[str, Any]:
    done = cli(
        "run",
        DEMO,
        "--data-selection",
        "nebraska_images",
        "-p",
        "tile_size=64",
        "-p",
        "min_area=20",
        "--wait",
        "--interval",
        "2",
        "--timeout",
        "300",
        "--json",
        timeout=360,
    )
    assert done.returncode == 0, done.stderr
    run: dict[str, Any] = json.loads(done.stdout)
    assert run["status"] == "success"
    return run


def output_path(run: dict[str, Any]) -> str:
    path = unquote(urlsplit(run["output_url"]).path)
    return path.split("/output-data/", 1)[1].strip("/")


class TestSignIn:
    def test_login_writes_a_private_config_and_never_shows_the_token(
        self, cli: Cli, api_server: ApiServer
    ):
        token = api_server.token("thomas")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "labcas_workflow_api.client.cli",
                "login",
                "--api-url",
                api_server.url,
                "--token-stdin",
            ],
            env={k: v for k, v in cli.env(None).items() if k != "LABCAS_API_URL"},
            input=token,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "thomas" in done.stdout and token not in done.stdout + done.stderr
        config = cli.home / ".config" / "labcas-workflows" / "config.json"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        listed = subprocess.run(
            [sys.executable, "-m", "labcas_workflow_api.client.cli", "data-selections", "--json"],
            env={k: v for k, v in cli.env(None).items() if k != "LABCAS_API_URL"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert [d["id"] for d in json.loads(listed.stdout)] == ["nebraska_images"]

    def test_a_refused_token_is_one_line_with_what_to_do(self, cli: Cli, api_server: ApiServer):
        env = cli.env("not-a-token")
        done = subprocess.run(
            [sys.executable, "-m", "labcas_workflow_api.client.cli", "workflows"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        line = one_line_error(done)
        assert "401" in line and "login" in line


class TestDiscovery:
    def test_data_selections_and_workflows(self, cli: Cli):
        assert [d["id"] for d in cli.json("data-selections")] == ["nebraska_images"]
        workflows = cli.json("workflows", "--data-selection", "nebraska_images")
        assert [w["id"] for w in workflows] == [DEMO]

    def test_describe_lists_typed_parameters(self, cli: Cli):
        detail = cli.json("describe", DEMO)
        assert detail["parameters"]["tile_size"]["schema"]["minimum"] == 8
        table = cli("describe", DEMO)
        assert table.returncode == 0 and "tile_size" in table.stdout

    def test_an_outsider_sees_nothing(self, cli: Cli):
        assert cli.json("data-selections", user="mallory") == []
        line = one_line_error(cli("runs", DEMO, user="mallory"))
        assert "404" in line

    def test_a_typo_gets_the_id_the_user_may_use_and_never_anothers(self, cli: Cli):
        line = one_line_error(cli("workflows", "--data-selection", "nebraska_image"))
        assert "did you mean 'nebraska_images'?" in line
        assert "did you mean 'nebraska_demo'?" in one_line_error(cli("describe", "nebraska_dem"))
        line = one_line_error(cli("runs", "nebraska_dem", "--status", "success"))
        assert "did you mean 'nebraska_demo'?" in line
        for args in (("describe", "labcas_slep"), ("workflows", "-d", "sleep_input")):
            line = one_line_error(cli(*args))  # ada's, not thomas's
            assert "did you mean" not in line
            assert "labcas_sleep" not in line and "sleep_inputs" not in line


class TestRuns:
    def test_invalid_values_are_refused_before_anything_starts(self, cli: Cli):
        before = cli.json("runs", DEMO)
        line = one_line_error(cli("run", DEMO, "-d", "nebraska_images", "-p", "tile_size=4"))
        assert "tile_size must be at least 8" in line
        line = one_line_error(cli("run", DEMO, "-d", "nebraska_images", "-p", "tile_size=big"))
        assert "whole number" in line
        assert len(cli.json("runs", DEMO)) == len(before)

    def test_run_wait_succeeds_with_exit_0(self, finished_run: dict[str, Any]):
        assert finished_run["conf"]["tile_size"] == 64
        assert finished_run["conf"]["min_area"] == 20

    def test_runs_with_status_filter(self, cli: Cli, finished_run: dict[str, Any]):
        succeeded = cli.json("runs", DEMO, "--status", "success")
        assert finished_run["run_id"] in [r["run_id"] for r in succeeded]
        assert all(r["status"] == "success" for r in succeeded)
        assert finished_run["run_id"] not in [
            r["run_id"] for r in cli.json("runs", DEMO, "--status", "failed")
        ]

    def test_status_of_the_run(self, cli: Cli, finished_run: dict[str, Any]):
        run = cli.json("status", DEMO, finished_run["run_id"])
        assert run["status"] == "success"
        shown = cli("status", DEMO, finished_run["run_id"])
        assert shown.returncode == 0 and finished_run["run_id"] in shown.stdout

    def test_logs_of_a_task_or_a_clear_error(self, cli: Cli, finished_run: dict[str, Any]):
        run = cli.json("status", DEMO, finished_run["run_id"])
        tasks = run.get("tasks")
        if not tasks:
            done = cli("logs", DEMO, finished_run["run_id"], "segment")
            one_line_error(done)
            return
        done = cli("logs", DEMO, finished_run["run_id"], tasks[0]["task_id"])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()

    def test_logs_follow_the_pages_of_a_long_log(
        self, cli: Cli, api_server: ApiServer, finished_run: dict[str, Any]
    ):
        url = f"{api_server.url}/workflows/{DEMO}/runs/{finished_run['run_id']}"
        url += "/tasks/list_inputs/logs"
        whole = httpx.get(url, headers=api_server.headers("thomas"), timeout=60).text
        settings = api_server.container.settings
        settings.log_max_bytes = 1024
        try:
            paged = httpx.get(url, headers=api_server.headers("thomas"), timeout=60)
            assert 'rel="next"' in paged.headers["link"]  # the server cuts it in pages
            done = cli("logs", DEMO, finished_run["run_id"], "list_inputs")
        finally:
            settings.log_max_bytes = 0
        assert done.returncode == 0, done.stderr
        assert len(whole.encode()) > 1024 and done.stdout == whole
        assert "[LabCAS: the log was cut" not in done.stdout

    def test_every_run_with_its_workflow_and_folder_at_80_columns(
        self, cli: Cli, finished_run: dict[str, Any]
    ):
        folder = finished_run["output_folder"]
        assert folder == output_path(finished_run) + "/"
        listed = [r for r in cli.json("runs") if r["run_id"] == finished_run["run_id"]]
        assert [r["output_folder"] for r in listed] == [folder]
        done = cli("runs", columns=80)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), done.stdout
        at = lines.index(finished_run["run_id"])
        assert lines[at + 2] == f"  workflow {DEMO} · folder {folder}"

    def test_status_gives_the_folder_and_the_web_page(
        self, cli: Cli, api_server: ApiServer, finished_run: dict[str, Any]
    ):
        run_id = finished_run["run_id"]
        shown = cli("status", DEMO, run_id, columns=80).stdout.splitlines()
        assert f"Folder: {finished_run['output_folder']}" in shown
        assert f"Web page: {api_server.url}/ui/#/run/{DEMO}/{run_id}" in shown
        assert finished_run["web_url"] == f"{api_server.url}/ui/#/run/{DEMO}/{run_id}"

    def test_cancelling_a_finished_run_is_refused_in_one_line(
        self, cli: Cli, finished_run: dict[str, Any]
    ):
        one_line_error(cli("cancel", DEMO, finished_run["run_id"], "--yes"))

    def test_someone_else_cannot_see_the_run(self, cli: Cli, finished_run: dict[str, Any]):
        assert finished_run["run_id"] not in [
            r["run_id"] for r in cli.json("runs", DEMO, user="dliu")
        ]
        one_line_error(cli("status", DEMO, finished_run["run_id"], user="dliu"))


@pytest.fixture(scope="module")
def cancelled_run(cli: Cli, api_server: ApiServer) -> dict[str, Any]:
    """A long labcas_sleep run of ada, started and cancelled with the CLI."""
    with httpx.Client(base_url=api_server.url, headers=api_server.headers("ada")) as ada:
        wait_until(
            lambda: ada.get(f"/workflows/{SLEEP}").is_success, 120, what="labcas_sleep deployed"
        )
    args = ("run", SLEEP, "-d", "sleep_inputs", "-p", "seconds=600", "--json")
    started = cli(*args, user="ada")
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    done = cli("cancel", SLEEP, run_id, "--yes", user="ada")
    assert done.returncode == 0, done.stderr
    return {"run_id": run_id, "said": done.stdout}


class TestCancelled:
    def test_the_cancel_says_cancelled(self, cancelled_run: dict[str, Any]):
        assert cancelled_run["said"].strip() == (
            f"Cancelled run {cancelled_run['run_id']} (now cancelled)."
        )

    def test_status_and_wait_read_cancelled(self, cli: Cli, cancelled_run: dict[str, Any]):
        run_id = cancelled_run["run_id"]
        assert cli.json("status", SLEEP, run_id, user="ada")["status"] == "cancelled"
        shown = cli("status", SLEEP, run_id, user="ada", columns=80)
        head = shown.stdout.splitlines()[0]
        assert shown.returncode == 0 and head.split()[-1] == "cancelled", shown.stdout
        waited = cli("status", SLEEP, run_id, "--wait", "--json", user="ada")
        assert waited.returncode == 1 and json.loads(waited.stdout)["status"] == "cancelled"

    def test_runs_filter_it_as_cancelled_not_failed(self, cli: Cli, cancelled_run: dict[str, Any]):
        run_id = cancelled_run["run_id"]
        for scope in ((), (SLEEP,)):
            listed = {r["run_id"]: r["status"] for r in cli.json("runs", *scope, user="ada")}
            assert listed[run_id] == "cancelled"
            stopped = cli.json("runs", *scope, "--status", "cancelled", user="ada")
            assert run_id in [r["run_id"] for r in stopped]
            assert {r["status"] for r in stopped} == {"cancelled"}
            failed = cli.json("runs", *scope, "--status", "failed", user="ada")
            assert run_id not in [r["run_id"] for r in failed]
        assert run_id not in [r["run_id"] for r in cli.json("runs")]  # not thomas's

    def test_an_unknown_run_of_mine_is_in_our_words(self, cli: Cli):
        line = one_line_error(cli("status", SLEEP, "labcas__ada__nope", user="ada"))
        assert "run 'labcas__ada__nope' not found" in line
        assert "DagRun" not in line and "dag_id" not in line


class TestOutputs:
    def test_outputs_listing_and_tree(self, cli: Cli, finished_run: dict[str, Any]):
        path = output_path(finished_run)
        listing = cli.json("outputs", path)
        assert {"nuclei_00.csv", "nuclei_00_bw.png", "nuclei_00_ov.png"} <= set(listing["files"])
        tree = cli("outputs", "--tree")
        assert tree.returncode == 0 and "nuclei_00_ov.png" in tree.stdout

    def test_the_top_folder_names_each_folders_run_at_80_columns(
        self, cli: Cli, finished_run: dict[str, Any]
    ):
        done = cli("outputs", columns=80)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), done.stdout
        at = lines.index(finished_run["output_folder"])
        assert lines[at + 1].startswith(f"  success · {DEMO} · started ")
        assert lines[at + 2] == f"  {finished_run['run_id']}"
        assert "in_data_selection=" in lines[at + 3]

    def test_download_skips_complete_and_resumes_partial_files(
        self, cli: Cli, finished_run: dict[str, Any], tmp_path: Path
    ):
        path = output_path(finished_run)
        sizes = {n: f["size"] for n, f in cli.json("outputs", path)["files"].items()}
        first = cli("download", path, str(tmp_path), timeout=120)
        assert first.returncode == 0, first.stderr
        assert {p.name: p.stat().st_size for p in tmp_path.iterdir()} == sizes
        png = tmp_path / "nuclei_00_ov.png"
        whole = png.read_bytes()
        png.write_bytes(whole[: len(whole) // 2])
        second = cli("download", path, str(tmp_path), timeout=120)
        assert second.returncode == 0, second.stderr
        assert (
            "1 resumed" in second.stdout and f"{len(sizes) - 1} already complete" in second.stdout
        )
        assert png.read_bytes() == whole

    def test_annotate_merges_and_is_read_back(self, cli: Cli, finished_run: dict[str, Any]):
        path = output_path(finished_run)
        assert cli("annotate", path, "nuclei_00.csv", "quality=good").returncode == 0
        done = cli("annotate", path, "nuclei_00.csv", "reviewer=thomas", "--json")
        assert json.loads(done.stdout) == {"quality": "good", "reviewer": "thomas"}
        listing = cli.json("outputs", path)
        assert listing["files"]["nuclei_00.csv"]["properties"] == {
            "quality": "good",
            "reviewer": "thomas",
        }
        cli("annotate", path, "nuclei_00.csv", "--remove", "reviewer")
        assert cli.json("outputs", path)["files"]["nuclei_00.csv"]["properties"] == {
            "quality": "good"
        }

    def test_a_bad_property_name_is_one_line(self, cli: Cli, finished_run: dict[str, Any]):
        line = one_line_error(
            cli("annotate", output_path(finished_run), "nuclei_00.csv", "bad key=x")
        )
        assert "400" in line
