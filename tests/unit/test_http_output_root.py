"""The top folder of the caller's outputs: each run's folder with its run, newest first, then
the rest in name order; the folder of a cancelled run marked partial."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.domain.errors import UpstreamUnavailable
from labcas_workflow_api.domain.models import RunStatus
from labcas_workflow_api.service import folder_scan, output_root
from labcas_workflow_api.service import runs as runs_module
from tests.unit.fakes import FakeEngine, FakeStore
from tests.unit.test_http_run_control import DEMO, add_run, assert_problem

Auth = Callable[[str], dict[str, str]]


@pytest.fixture
def area(engine: FakeEngine, store: FakeStore) -> list[str]:
    """Thomas's top folder: three run folders, one no run is known to have written, a file;
    the run ids newest first."""
    runs = [
        add_run(engine, "thomas", 1, RunStatus.SUCCESS),
        add_run(engine, "thomas", 2, RunStatus.RUNNING, workflow="paused_dag"),
        add_run(engine, "thomas", 3, RunStatus.RUNNING),
    ]
    engine.runs[(DEMO, runs[2])] = replace(
        engine.runs[(DEMO, runs[2])], conf={**engine.runs[(DEMO, runs[2])].conf, "tile_size": 64}
    )
    for n in (1, 2, 3):
        store.add(f"thomas/{n:04d}/result.csv")
    store.add("thomas/0000-imported/notes.txt")
    store.add("thomas/README.txt")
    store.add("dliu/0009/secret.csv")
    return runs[::-1]


def top(client: TestClient, auth: Auth, query: str = "", user: str = "thomas") -> dict:  # type: ignore[type-arg]
    answer = client.get(f"/output-data{query}", headers=auth(user))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


class TestTopFolder:
    def test_run_folders_newest_first_with_their_runs_then_the_rest(
        self, client: TestClient, auth: Auth, area: list[str]
    ) -> None:
        body = top(client, auth)
        assert list(body["folders"]) == ["0003/", "0002/", "0001/", "0000-imported/"]
        assert list(body["files"]) == ["README.txt"]
        newest = body["folders"]["0003/"]
        assert newest["href"] == "http://testserver/output-data/0003/"
        assert newest["web_url"] == "http://testserver/ui/#/outputs/0003"
        run = newest["run"]
        assert run["run_id"] == area[0] and run["workflow_id"] == DEMO
        assert run["status"] == "running" and run["partial"] is False
        assert run["conf"] == {"in_data_selection": "x", "tile_size": 64}
        assert run["start_time"] == "2026-11-28T10:03:00+00:00"
        assert run["href"] == f"http://testserver/workflows/{DEMO}/runs/{area[0]}"
        assert run["web_url"] == f"http://testserver/ui/#/run/{DEMO}/{area[0]}"
        assert body["folders"]["0002/"]["run"]["workflow_id"] == "paused_dag"
        assert "run" not in body["folders"]["0000-imported/"]

    def test_a_cancelled_runs_folder_is_marked_partial(
        self, client: TestClient, auth: Auth, area: list[str]
    ) -> None:
        client.post(f"/workflows/{DEMO}/runs/{area[0]}/cancel", headers=auth("thomas"))
        run = top(client, auth)["folders"]["0003/"]["run"]
        assert (run["status"], run["partial"]) == ("cancelled", True)

    def test_pages_keep_the_order(self, client: TestClient, auth: Auth, area: list[str]) -> None:
        names: list[str] = []
        target: str | None = "?limit=2"
        while target:
            body = top(client, auth, target.removeprefix("http://testserver/output-data"))
            names += [*body["folders"], *body["files"]]
            target = body.get("next")
        assert names == ["0003/", "0002/", "0001/", "0000-imported/", "README.txt"]

    def test_a_top_folder_cursor_is_no_place_in_a_sub_folder(
        self, client: TestClient, auth: Auth, area: list[str]
    ) -> None:
        cursor = top(client, auth, "?limit=1")["next"].rsplit("cursor=", 1)[1]
        answer = client.get(f"/output-data/0003/?cursor={cursor}", headers=auth("thomas"))
        assert_problem(answer, 400)

    def test_someone_elses_runs_and_folders_never_show(
        self, client: TestClient, auth: Auth, engine: FakeEngine, area: list[str]
    ) -> None:
        add_run(engine, "dliu", 9)
        body = top(client, auth, user="dliu")
        assert list(body["folders"]) == ["0009/"]
        assert body["folders"]["0009/"]["run"]["run_id"] == "labcas__dliu__0009"

    def test_without_the_engine_the_folders_come_in_name_order(
        self,
        client: TestClient,
        auth: Auth,
        engine: FakeEngine,
        area: list[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        top(client, auth)  # the deployed workflows are known

        def down(*args: object, **kwargs: object) -> None:
            raise UpstreamUnavailable("cannot reach Airflow")

        monkeypatch.setattr(engine, "list_user_runs", down)
        client.app.state.container.runs._lists.clear()  # type: ignore[attr-defined]
        body = top(client, auth)
        assert list(body["folders"]) == ["0000-imported/", "0001/", "0002/", "0003/"]
        assert all("run" not in link for link in body["folders"].values())

    def test_runs_a_little_old_label_the_folders_without_waiting_on_the_engine(
        self,
        client: TestClient,
        auth: Auth,
        engine: FakeEngine,
        area: list[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Past its time to live, the run list labels the folders at once for
        ``RUN_LISTS_STALE_FOR`` seconds more while it is renewed behind; after that the
        engine is asked first (here it is down: the folders are listed without runs)."""
        monkeypatch.setattr(client.app.state.container.runs, "_list_ttl", 0.2)  # type: ignore[attr-defined]
        monkeypatch.setattr(runs_module, "RUN_LISTS_STALE_FOR", 0.6)
        assert "run" in top(client, auth)["folders"]["0003/"]

        def down(*args: object, **kwargs: object) -> None:
            raise UpstreamUnavailable("cannot reach Airflow")

        monkeypatch.setattr(engine, "list_user_runs", down)
        time.sleep(0.3)
        assert top(client, auth)["folders"]["0003/"]["run"]["run_id"] == area[0]
        time.sleep(0.7)
        assert all("run" not in link for link in top(client, auth)["folders"].values())

    def test_a_huge_top_folder_is_listed_in_name_order(
        self,
        client: TestClient,
        auth: Auth,
        area: list[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(output_root, "MAX_ENTRIES", 3)
        body = top(client, auth)
        assert list(body["folders"]) == ["0000-imported/", "0001/", "0002/", "0003/"]
        assert body["folders"]["0003/"]["run"]["run_id"] == area[0]

    def test_the_next_pages_of_a_huge_top_folder_do_not_read_it_whole_again(
        self,
        client: TestClient,
        auth: Auth,
        store: FakeStore,
        area: list[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Its first page finds it too large (``MAX_ENTRIES`` read); its cursors are places
        in name order, and a next page lists from there only, as in any folder."""
        monkeypatch.setattr(output_root, "MAX_ENTRIES", 3)
        monkeypatch.setattr(folder_scan, "_MAX_CHUNK", 2)
        first = top(client, auth, "?limit=2")
        before = store.calls["list"]
        second = top(client, auth, first["next"].removeprefix("http://testserver/output-data"))
        # 0002/ 0003/ were listed for the first page and are held: README.txt only
        assert store.calls["list"] - before == 1
        third = top(client, auth, second["next"].removeprefix("http://testserver/output-data"))
        names = [*first["folders"], *second["folders"], *third["folders"], *third["files"]]
        assert names == ["0000-imported/", "0001/", "0002/", "0003/", "README.txt"]
        assert second["folders"]["0003/"]["run"]["run_id"] == area[0]

    def test_the_html_listing_links_each_folder_to_its_run(
        self, client: TestClient, auth: Auth, area: list[str]
    ) -> None:
        client.post(f"/workflows/{DEMO}/runs/{area[0]}/cancel", headers=auth("thomas"))
        page = client.get("/output-data/", headers={**auth("thomas"), "Accept": "text/html"})
        assert page.status_code == 200 and "<th>Run</th>" in page.text
        assert f'<a href="http://testserver/ui/#/run/{DEMO}/{area[0]}">{area[0]}</a>' in page.text
        assert "cancelled (partial outputs)" in page.text
        assert "nebraska_demo on x" in page.text and "tile_size = 64" in page.text
        assert page.text.index("0003/") < page.text.index("0001/")
