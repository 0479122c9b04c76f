"""The life of a run over real HTTP on Airflow 3: tasks and progress, task logs, cancel,
paging and the status filter, and nobody else's runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from labcas_workflow_api.domain.models import Write
from tests.integration.api_fixtures import ApiServer
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

DEMO = "nebraska_demo"
SLEEP = "labcas_sleep"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 240, every: float = 1) -> Any:
    return wait_until(check, timeout, interval=every, what=what)


def client(api: ApiServer, user: str) -> httpx.Client:
    return httpx.Client(base_url=api.url, headers=api.headers(user), timeout=60)


@pytest.fixture(scope="module")
def thomas(api_server: ApiServer) -> Iterator[httpx.Client]:
    with client(api_server, "thomas") as http:
        yield http


@pytest.fixture(scope="module")
def ada(api_server: ApiServer) -> Iterator[httpx.Client]:
    with client(api_server, "ada") as http:
        wait_for(
            "labcas_sleep to be deployed", lambda: http.get(f"/workflows/{SLEEP}").is_success, 120
        )
        yield http


def start(http: httpx.Client, workflow: str, selection: str, **params: Any) -> str:
    answer = http.post(
        f"/workflows/{workflow}/runs", json={"in_data_selection": selection, **params}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["run_id"])


def detail(http: httpx.Client, workflow: str, run_id: str) -> dict[str, Any]:
    answer = http.get(f"/workflows/{workflow}/runs/{run_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture(scope="module")
def demo_run(thomas: httpx.Client) -> dict[str, Any]:
    """A finished demo run of thomas, with every progress figure seen while it ran."""
    run_id = start(thomas, DEMO, "nebraska_images", tile_size=32)
    seen: list[tuple[str, int, int]] = []

    def finished() -> dict[str, Any] | None:
        run = detail(thomas, DEMO, run_id)
        seen.append((run["status"], run["progress"]["done"], run["progress"]["total"]))
        return run if run["status"] in ("success", "failed", "cancelled") else None

    run = wait_for(f"demo run {run_id}", finished, every=2)
    return {**run, "seen": seen}


class TestDemoRunDetail:
    def test_tasks_come_in_dag_order_and_progress_ends_complete(
        self, demo_run: dict[str, Any]
    ) -> None:
        assert demo_run["status"] == "success", demo_run
        tasks = demo_run["tasks"]
        assert [t["task_id"] for t in tasks] == ["list_inputs"] + ["segment"] * (len(tasks) - 2) + [
            "summarize"
        ]
        assert [t["map_index"] for t in tasks[1:-1]] == list(range(len(tasks) - 2))
        assert len(tasks) >= 3
        for task in tasks:
            assert task["state"] == "success" and task["try_number"] == 1, task
            assert task["start_time"] and task["end_time"] and task["duration"] >= 0
        assert demo_run["progress"] == {"done": len(tasks), "total": len(tasks)}
        assert demo_run["conf"] == {"in_data_selection": "nebraska_images", "tile_size": 32}

    def test_progress_never_goes_back_while_the_run_goes_on(self, demo_run: dict[str, Any]) -> None:
        done = [d for _, d, _ in demo_run["seen"]]
        assert done == sorted(done)
        assert all(d <= t for _, d, t in demo_run["seen"])

    def test_the_run_in_the_list_is_the_same_run(
        self, thomas: httpx.Client, demo_run: dict[str, Any]
    ) -> None:
        runs = thomas.get(f"/workflows/{DEMO}/runs").json()["runs"]
        listed = next(r for r in runs if r["run_id"] == demo_run["run_id"])
        assert listed == {k: demo_run[k] for k in listed}


class TestTaskLogs:
    def test_the_log_of_a_task_is_plain_text(
        self, thomas: httpx.Client, demo_run: dict[str, Any]
    ) -> None:
        url = f"/workflows/{DEMO}/runs/{demo_run['run_id']}/tasks/list_inputs/logs"
        with thomas.stream("GET", url) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "text/plain; charset=utf-8"
            text = answer.read().decode()
        assert "Returned value was" in text
        assert "INFO - " in text and "{" in text  # [time] {file.py:N} LEVEL - message
        assert thomas.get(url, params={"try": 1}).text == text

    def test_a_mapped_task_gives_each_map_index_or_the_one_asked_for(
        self, thomas: httpx.Client, demo_run: dict[str, Any]
    ) -> None:
        url = f"/workflows/{DEMO}/runs/{demo_run['run_id']}/tasks/segment/logs"
        every = thomas.get(url).text
        assert "--- segment, map index 0, try 1 ---" in every
        assert "--- segment, map index 1, try 1 ---" in every
        one = thomas.get(url, params={"map_index": 1}).text
        assert "---" not in one.splitlines()[0] and one.strip()

    @pytest.mark.parametrize(
        ("task", "params", "status"),
        [
            ("list_inputs", {"try": 2}, 404),
            ("ghost", {}, 404),
            ("segment", {"map_index": 999}, 404),
            ("list_inputs", {"try": 0}, 400),
            ("bad task", {}, 400),
        ],
    )
    def test_unknown_or_bad_task_try_and_map_index(
        self,
        thomas: httpx.Client,
        demo_run: dict[str, Any],
        task: str,
        params: dict[str, Any],
        status: int,
    ) -> None:
        url = f"/workflows/{DEMO}/runs/{demo_run['run_id']}/tasks/{task}/logs"
        answer = thomas.get(url, params=params)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"

    def test_cancelling_a_finished_run_is_409(
        self, thomas: httpx.Client, demo_run: dict[str, Any]
    ) -> None:
        answer = thomas.post(f"/workflows/{DEMO}/runs/{demo_run['run_id']}/cancel")
        assert answer.status_code == 409
        assert detail(thomas, DEMO, demo_run["run_id"])["status"] == "success"


def task_state(run: dict[str, Any], task_id: str) -> str | None:
    return next(t["state"] for t in run["tasks"] if t["task_id"] == task_id)


@pytest.fixture(scope="module")
def cancelled(ada: httpx.Client, api_server: ApiServer) -> dict[str, Any]:
    """A long sleep run of ada, cancelled while its ``wait`` task runs (others tried first)."""
    run_id = start(ada, SLEEP, "sleep_inputs", seconds=600)
    wait_for(
        "the wait task to run",
        lambda: task_state(detail(ada, SLEEP, run_id), "wait") == "running",
        every=1,
    )
    refused = {}
    for user in ("bob", "thomas", "mallory"):
        with client(api_server, user) as other:
            refused[user] = other.post(f"/workflows/{SLEEP}/runs/{run_id}/cancel").status_code
    still = detail(ada, SLEEP, run_id)["status"]
    started = time.monotonic()
    first = ada.post(f"/workflows/{SLEEP}/runs/{run_id}/cancel")
    second = ada.post(f"/workflows/{SLEEP}/runs/{run_id}/cancel")

    def stopped_run() -> dict[str, Any] | None:
        run = detail(ada, SLEEP, run_id)
        return run if task_state(run, "wait") != "running" else None

    stopped = wait_for("the wait task to stop", stopped_run, timeout=90)
    log_url = f"/workflows/{SLEEP}/runs/{run_id}/tasks/wait/logs"
    killed = wait_for(
        "Airflow to kill the wait task's process",
        lambda: "Task killed!" in (text := ada.get(log_url).text) and text,
        timeout=120,
        every=2,
    )
    return {
        "run_id": run_id,
        "refused": refused,
        "status_before": still,
        "first": first,
        "second": second,
        "stopped": stopped,
        "killed_log": killed,
        "stop_seconds": time.monotonic() - started,
    }


class TestCancel:
    def test_other_users_cannot_cancel_it(self, cancelled: dict[str, Any]) -> None:
        assert cancelled["refused"] == {"bob": 404, "thomas": 404, "mallory": 404}
        assert cancelled["status_before"] == "running"

    def test_the_owner_cancels_it_and_again_harmlessly(self, cancelled: dict[str, Any]) -> None:
        first, second = cancelled["first"], cancelled["second"]
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["status"] == "cancelled" and body["run_id"] == cancelled["run_id"]
        assert second.status_code == 200 and second.json() == first.json()

    def test_its_tasks_stop(self, cancelled: dict[str, Any]) -> None:
        run = cancelled["stopped"]
        print(f"wait task's process killed {cancelled['stop_seconds']:.1f}s after the cancel")
        assert run["status"] == "cancelled"
        assert task_state(run, "begin") == "success"
        assert task_state(run, "wait") in ("failed", "skipped", "upstream_failed")
        assert task_state(run, "end") != "success"
        assert run["progress"]["done"] == run["progress"]["total"] == 3

    def test_the_log_of_the_stopped_task_can_be_read(
        self, ada: httpx.Client, cancelled: dict[str, Any]
    ) -> None:
        answer = ada.get(f"/workflows/{SLEEP}/runs/{cancelled['run_id']}/tasks/wait/logs")
        assert answer.status_code == 200
        assert "waited 0 of 600 seconds" in answer.text
        assert "Server indicated the task shouldn't be running anymore" in cancelled["killed_log"]

    @pytest.mark.parametrize("user", ["bob", "thomas", "mallory"])
    def test_other_users_see_neither_it_nor_its_logs(
        self, api_server: ApiServer, cancelled: dict[str, Any], user: str
    ) -> None:
        base = f"/workflows/{SLEEP}/runs/{cancelled['run_id']}"
        with client(api_server, user) as other:
            for path in (base, base + "/tasks/wait/logs", base + "/tasks/begin/logs?try=1"):
                answer = other.get(path)
                assert answer.status_code == 404, (path, answer.text)
                assert "waited" not in answer.text
            listed = other.get(f"/workflows/{SLEEP}/runs")
            assert listed.status_code == 404 or cancelled["run_id"] not in listed.text

    def test_its_folder_is_marked_partial_in_the_top_listing(
        self, ada: httpx.Client, api_server: ApiServer, cancelled: dict[str, Any]
    ) -> None:
        run = detail(ada, SLEEP, cancelled["run_id"])
        folder = run["output_folder"]
        assert run["output_url"] == f"{api_server.url}/output-data/{folder}"
        assert run["web_url"] == f"{api_server.url}/ui/#/run/{SLEEP}/{cancelled['run_id']}"
        # labcas_sleep writes nothing: write what a workflow would have before the cancel
        store = api_server.container.store
        key = f"ada/{folder}partial.csv"
        assert not store.put_many("labcas-staging", [Write(key, b"a,b\n")])[key]
        top = ada.get("/output-data").json()
        assert next(iter(top["folders"])) == folder  # the newest run's folder first
        listed = top["folders"][folder]["run"]
        assert (listed["run_id"], listed["status"], listed["partial"]) == (
            cancelled["run_id"],
            "cancelled",
            True,
        )
        assert listed["conf"] == {"in_data_selection": "sleep_inputs", "seconds": 600}


class TestListing:
    def test_paging_and_status_filter(
        self, ada: httpx.Client, api_server: ApiServer, cancelled: dict[str, Any]
    ) -> None:
        quick = [start(ada, SLEEP, "sleep_inputs", seconds=0) for _ in range(3)]
        everything = ada.get(f"/workflows/{SLEEP}/runs").json()
        assert set(everything) == {"runs"}
        ids = [r["run_id"] for r in everything["runs"]]
        assert ids[:3] == quick[::-1] and cancelled["run_id"] in ids

        paged: list[str] = []
        target: str | None = f"/workflows/{SLEEP}/runs?limit=2"
        while target:
            page = ada.get(target).json()
            assert len(page["runs"]) <= 2
            paged += [r["run_id"] for r in page["runs"]]
            target = page.get("next")
            if target:
                assert target.startswith(api_server.url + f"/workflows/{SLEEP}/runs?")
        assert paged == ids

        for listing in (f"/workflows/{SLEEP}/runs", "/runs"):
            failed = ada.get(listing, params={"status": "failed"}).json()["runs"]
            assert cancelled["run_id"] not in [r["run_id"] for r in failed]
            stopped = ada.get(listing, params={"status": "cancelled"}).json()["runs"]
            assert cancelled["run_id"] in [r["run_id"] for r in stopped]
            assert {r["status"] for r in stopped} == {"cancelled"}
        staged = ada.get(f"/dev/workflows/{SLEEP}/runs", params={"limit": 1}).json()
        assert staged["next"].startswith(api_server.url + "/dev/")

        bob = client(api_server, "bob")
        with bob:
            assert bob.get(f"/workflows/{SLEEP}/runs").json() == {"runs": []}
            assert bob.get("/runs").json() == {"runs": []}

    def test_all_my_runs_in_one_list(
        self, ada: httpx.Client, thomas: httpx.Client, demo_run: dict[str, Any], cancelled: Any
    ) -> None:
        mine = ada.get(f"/workflows/{SLEEP}/runs").json()["runs"]
        everything = ada.get("/runs").json()["runs"]
        ids = [(r["workflow_id"], r["run_id"]) for r in mine]
        assert [(r["workflow_id"], r["run_id"]) for r in everything] == ids  # labcas_sleep only
        paged: list[str] = []
        target: str | None = "/runs?limit=2"
        while target:
            page = ada.get(target).json()
            paged += [r["run_id"] for r in page["runs"]]
            target = page.get("next")
        assert paged == [r["run_id"] for r in mine]
        theirs = thomas.get("/runs").json()["runs"]
        assert demo_run["run_id"] in [r["run_id"] for r in theirs]
        assert {r["workflow_id"] for r in theirs} == {DEMO}
        assert cancelled["run_id"] not in [r["run_id"] for r in theirs]
        typo = thomas.get("/runs", params={"workflow": "nebraska_dem"})
        assert typo.status_code == 404
        assert "did you mean 'nebraska_demo'?" in typo.json()["detail"]


def test_an_unknown_run_of_mine_is_answered_in_our_words(thomas: httpx.Client) -> None:
    run = f"/workflows/{DEMO}/runs/labcas__thomas__nope"
    for method, path in (
        ("GET", run),
        ("GET", f"{run}/tasks/list_inputs/logs"),
        ("POST", f"{run}/cancel"),
    ):
        answer = thomas.request(method, path)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["detail"] == "run 'labcas__thomas__nope' not found", path
        assert "DagRun" not in answer.text and "dag_id" not in answer.text


def test_a_typo_is_answered_with_an_id_the_caller_may_use_only(
    thomas: httpx.Client, ada: httpx.Client
) -> None:
    def detail(http: httpx.Client, path: str, **params: str) -> str:
        answer = http.get(path, params=params)
        assert answer.status_code == 404, answer.text
        return str(answer.json()["detail"])

    selection = "/data-selections/workflows"
    said = detail(thomas, selection, data_id="nebraska_image")
    assert said == "data selection 'nebraska_image' not found; did you mean 'nebraska_images'?"
    said = detail(thomas, "/workflows/nebraska_dem")
    assert said == "workflow 'nebraska_dem' not found; did you mean 'nebraska_demo'?"
    assert "did you mean 'sleep_inputs'?" in detail(ada, selection, data_id="sleep_input")
    # ada's ids exist, but thomas may not use them: not a word of them
    for path, params in (
        (selection, {"data_id": "sleep_input"}),
        ("/workflows/labcas_slee", {}),
        ("/runs", {"workflow": "labcas_slee"}),
    ):
        said = detail(thomas, path, **params)
        assert "did you mean" not in said and "sleep_inputs" not in said, said
        assert "labcas_sleep'" not in said, said
