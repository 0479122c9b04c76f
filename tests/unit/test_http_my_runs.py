"""``GET /runs``: the caller's runs of every workflow they may run, in one engine listing;
the ``cancelled`` status; links for people (``web_url``); unknown runs in our words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.domain.errors import NotFound, UpstreamUnavailable
from labcas_workflow_api.domain.models import RunStatus
from labcas_workflow_api.http import app as app_module
from labcas_workflow_api.http.app import create_app
from tests.unit.fakes import FakeEngine
from tests.unit.test_http_run_control import DEMO, add_run, assert_problem

Auth = Callable[[str], dict[str, str]]
PAUSED = "paused_dag"  # thomas may run it on other/images


def ids(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [r["run_id"] for r in body["runs"]]


@pytest.fixture
def mine(engine: FakeEngine) -> list[str]:
    """Thomas's runs of his two workflows, newest first; others' and those of a workflow he
    may not run mixed in."""
    runs = [
        add_run(engine, "thomas", 1, RunStatus.SUCCESS),
        add_run(engine, "thomas", 2, RunStatus.FAILED, workflow=PAUSED),
        add_run(engine, "thomas", 3, RunStatus.RUNNING),
        add_run(engine, "thomas", 4, RunStatus.SUCCESS, workflow=PAUSED),
        add_run(engine, "thomas", 5, RunStatus.QUEUED),
    ]
    add_run(engine, "dliu", 6)
    add_run(engine, "thomas", 7, workflow="unlisted_dag")  # deployed, not his to run
    return runs[::-1]


class TestAllMyRuns:
    def test_every_workflow_newest_first_in_one_engine_listing(
        self, client: TestClient, auth: Auth, engine: FakeEngine, mine: list[str]
    ) -> None:
        body = client.get("/runs", headers=auth("thomas")).json()
        assert ids(body) == mine and "next" not in body
        assert [r["workflow_id"] for r in body["runs"]][:2] == [DEMO, PAUSED]
        listings = [c for c in engine.calls if c[0] == "list_user_runs"]
        assert listings == [("list_user_runs", (DEMO, PAUSED), "labcas__thomas__", None)]

    def test_pages_follow_next_links_keeping_the_filters(
        self, client: TestClient, auth: Auth, mine: list[str]
    ) -> None:
        seen: list[str] = []
        target: str | None = "/runs?limit=2"
        while target:
            body = client.get(target, headers=auth("thomas")).json()
            seen += ids(body)
            target = body.get("next")
            if target:
                assert target.startswith("http://testserver/runs?")
                assert parse_qs(urlsplit(target).query)["limit"] == ["2"]
        assert seen == mine

    def test_filters(self, client: TestClient, auth: Auth, mine: list[str]) -> None:
        def listed(query: str) -> list[str]:
            return ids(client.get(f"/runs?{query}", headers=auth("thomas")).json())

        assert listed("status=success") == [mine[1], mine[4]]
        assert listed(f"workflow={PAUSED}") == [mine[1], mine[3]]
        assert listed(f"workflow={PAUSED}&status=failed&limit=1") == [mine[3]]

    def test_a_workflow_typo_is_404_with_a_suggestion(
        self, client: TestClient, auth: Auth, mine: list[str]
    ) -> None:
        answer = client.get("/runs?workflow=nebraska_dem", headers=auth("thomas"))
        assert_problem(answer, 404)
        assert "did you mean 'nebraska_demo'?" in answer.json()["detail"]
        assert_problem(client.get("/runs?workflow=unlisted_dag", headers=auth("thomas")), 404)

    @pytest.mark.parametrize(
        "query",
        [
            "status=exploded",
            "limit=0",
            "workflow=a%2Fb",
            "cursor=not-a-cursor",
            # a cursor of one workflow's listing: [time, run id] without the workflow
            "cursor=WyIyMDI2LTExLTI4VDEwOjAxOjAwKzAwOjAwIiwibGFiY2FzX190aG9tYXNfXzAwMDEiXQ",
        ],
    )
    def test_bad_parameters_are_400(
        self, client: TestClient, auth: Auth, mine: list[str], query: str
    ) -> None:
        assert_problem(client.get(f"/runs?{query}", headers=auth("thomas")), 400)

    def test_someone_else_sees_only_theirs(
        self, client: TestClient, auth: Auth, mine: list[str]
    ) -> None:
        assert ids(client.get("/runs", headers=auth("dliu")).json()) == ["labcas__dliu__0006"]
        assert ids(client.get("/runs", headers=auth("mallory")).json()) == []

    def test_unauthenticated_is_401(self, client: TestClient) -> None:
        assert_problem(client.get("/runs"), 401)

    def test_the_list_is_kept_briefly_and_dropped_by_a_start(
        self, client: TestClient, auth: Auth, engine: FakeEngine, mine: list[str]
    ) -> None:
        def listings() -> int:
            return sum(1 for c in engine.calls if c[0] == "list_user_runs")

        client.get("/runs", headers=auth("thomas"))
        client.get("/runs", headers=auth("thomas"))
        assert listings() == 1
        body = {"in_data_selection": "nebraska_images"}
        started = client.post(f"/workflows/{DEMO}/runs", json=body, headers=auth("thomas"))
        after = client.get("/runs", headers=auth("thomas")).json()
        assert listings() == 2 and ids(after)[0] == started.json()["run_id"]


class TestCancelled:
    def test_a_cancelled_run_is_cancelled_everywhere_and_not_failed(
        self, client: TestClient, auth: Auth, engine: FakeEngine, mine: list[str]
    ) -> None:
        running = mine[2]
        cancelled = client.post(f"/workflows/{DEMO}/runs/{running}/cancel", headers=auth("thomas"))
        assert cancelled.json()["status"] == "cancelled"
        again = client.post(f"/workflows/{DEMO}/runs/{running}/cancel", headers=auth("thomas"))
        assert again.status_code == 200 and again.json()["status"] == "cancelled"
        detail = client.get(f"/workflows/{DEMO}/runs/{running}", headers=auth("thomas")).json()
        assert detail["status"] == "cancelled"
        for listing in ("/runs", f"/workflows/{DEMO}/runs"):
            only = client.get(f"{listing}?status=cancelled", headers=auth("thomas")).json()
            assert ids(only) == [running]
            failed = client.get(f"{listing}?status=failed", headers=auth("thomas")).json()
            assert running not in ids(failed)

    def test_a_run_that_finished_on_its_own_is_409(
        self, client: TestClient, auth: Auth, mine: list[str]
    ) -> None:
        done = client.post(f"/workflows/{DEMO}/runs/{mine[4]}/cancel", headers=auth("thomas"))
        assert_problem(done, 409)


class TestLinksForPeople:
    def test_without_the_web_app_answers_carry_no_web_url(
        self,
        container: Container,
        auth: Auth,
        mine: list[str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(app_module, "WEB_DIR", tmp_path)
        client = TestClient(create_app(container=container))
        body = client.get("/runs", headers=auth("thomas")).json()
        assert all("web_url" not in run for run in body["runs"])
        assert body["runs"][0]["output_folder"] == "0005/"

    def test_with_it_each_run_links_its_page(
        self, client: TestClient, auth: Auth, mine: list[str]
    ) -> None:
        run = client.get("/dev/runs?limit=1", headers=auth("thomas")).json()["runs"][0]
        assert run["web_url"] == f"http://testserver/dev/ui/#/run/{DEMO}/{mine[0]}"
        assert run["output_url"] == "http://testserver/dev/output-data/0005/"


class TestUnknownRunInOurWords:
    def test_the_engines_words_stay_in_the_log(
        self, client: TestClient, auth: Auth, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def airflow_words(workflow_id: str, run_id: str) -> None:
            raise NotFound(f"The DagRun with dag_id: `{workflow_id}` and run_id: `{run_id}` ...")

        monkeypatch.setattr(engine, "get_run", airflow_words)
        answer = client.get(f"/workflows/{DEMO}/runs/labcas__thomas__nope", headers=auth("thomas"))
        assert_problem(answer, 404)
        assert answer.json()["detail"] == "run 'labcas__thomas__nope' not found"


class TestEngineDown:
    def test_the_listing_is_a_503_problem(
        self, client: TestClient, auth: Auth, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        client.get("/workflows", headers=auth("thomas"))  # the deployed workflows are known

        def down(*args: object, **kwargs: object) -> None:
            raise UpstreamUnavailable("cannot reach Airflow")

        monkeypatch.setattr(engine, "list_user_runs", down)
        assert_problem(client.get("/runs", headers=auth("thomas")), 503)
