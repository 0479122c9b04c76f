"""Starting and listing runs: conf, validation, ownership, idempotency."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.domain.errors import UpstreamTimeout
from labcas_workflow_api.domain.models import RunStatus
from labcas_workflow_api.service.run_conf import parse_run_request
from labcas_workflow_api.service.run_starts import Started
from tests.unit.fakes import FakeEngine

Auth = Callable[[str], dict[str, str]]
URL = "/workflows/nebraska_demo/runs"


def start(client: TestClient, auth: Auth, body: object, user: str = "thomas", **headers: str):  # type: ignore[no-untyped-def]
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, content=data, headers={**auth(user), **headers})


def started(client: TestClient, auth: Auth, count: int) -> list[str]:
    """The ids of ``count`` runs thomas starts, in order."""
    body = {"in_data_selection": "nebraska_images"}
    return [start(client, auth, body).json()["run_id"] for _ in range(count)]


class TestStartRun:
    def test_conf_is_built_by_the_server(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        answer = start(client, auth, {"in_data_selection": "nebraska_images", "tile_size": 32})
        assert answer.status_code == 201
        body = answer.json()
        assert set(body) == {
            "run_id",
            "workflow_id",
            "status",
            "output_url",
            "output_folder",
            "web_url",
        }
        assert body["status"] == "queued"
        run = engine.runs[("nebraska_demo", body["run_id"])]
        assert run.conf["in_bucket"] == "edrn-data"
        assert run.conf["in_prefix"] == "nebraska_images/"
        assert run.conf["out_bucket"] == "labcas-staging"
        assert run.conf["username"] == "thomas"
        assert run.conf["tile_size"] == 32
        assert run.conf["in_data_selection"] == "nebraska_images"
        owner, stamp = run.conf["out_prefix"].split("/")
        assert owner == "thomas" and len(stamp) == len("20261128T101010123456")
        assert body["output_url"] == f"http://testserver/output-data/{stamp}/"
        assert body["output_folder"] == f"{stamp}/"
        assert body["web_url"] == f"http://testserver/ui/#/run/nebraska_demo/{body['run_id']}"

    def test_params_nested_and_text_plain(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        body = {
            "in_data_selection": "nebraska_images",
            "workflow_id": "nebraska_demo",
            "params": {"tile_size": 16},
        }
        answer = start(client, auth, body, **{"Content-Type": "text/plain"})
        assert answer.status_code == 201
        assert engine.runs[("nebraska_demo", answer.json()["run_id"])].conf["tile_size"] == 16

    def test_stage_path_gives_stage_links(self, client: TestClient, auth: Auth) -> None:
        answer = client.post(
            "/dev" + URL, json={"in_data_selection": "nebraska_images"}, headers=auth("thomas")
        )
        assert answer.json()["output_url"].startswith("http://testserver/dev/output-data/")

    @pytest.mark.parametrize(
        ("body", "status", "words"),
        [
            (b"{not json", 400, "not valid JSON"),
            (b"", 400, "JSON object"),
            ([1, 2], 400, "JSON object"),
            ({"tile_size": 32}, 400, "in_data_selection"),
            ({"in_data_selection": 5}, 400, "in_data_selection"),
            ({"in_data_selection": "nebraska_images", "out_prefix": "eve/x"}, 400, "out_prefix"),
            (
                {"in_data_selection": "nebraska_images", "params": {"username": "eve"}},
                400,
                "username",
            ),
            ({"in_data_selection": "nebraska_images", "workflow_id": "other"}, 400, "workflow_id"),
            ({"in_data_selection": "nebraska_images", "params": [1]}, 400, "params"),
            ({"in_data_selection": "nope"}, 404, "nope"),
            ({"in_data_selection": "private"}, 404, "private"),  # usable nowhere: no oracle
            ({"in_data_selection": "other/images"}, 403, "other/images"),
            ({"in_data_selection": "nebraska_images", "tile_size": 4}, 422, "tile_size"),
            ({"in_data_selection": "nebraska_images", "tile_size": "big"}, 422, "tile_size"),
            (
                {"in_data_selection": "nebraska_images", "threshold_method": "magic"},
                422,
                "threshold_method",
            ),
            ({"in_data_selection": "nebraska_images", "colour": "red"}, 422, "colour"),
        ],
    )
    def test_bad_requests(
        self,
        client: TestClient,
        auth: Auth,
        engine: FakeEngine,
        body: object,
        status: int,
        words: str,
    ) -> None:
        answer = start(client, auth, body)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert words in answer.json()["detail"]
        assert not engine.runs

    def test_paused_workflow_is_409(self, client: TestClient, auth: Auth) -> None:
        answer = client.post(
            "/workflows/paused_dag/runs",
            json={"in_data_selection": "other/images"},
            headers=auth("thomas"),
        )
        assert answer.status_code == 409

    def test_unknown_workflow_is_404(self, client: TestClient, auth: Auth) -> None:
        answer = client.post(
            "/workflows/ghost/runs",
            json={"in_data_selection": "nebraska_images"},
            headers=auth("thomas"),
        )
        assert answer.status_code == 404

    def test_unauthenticated(self, client: TestClient, engine: FakeEngine) -> None:
        assert client.post(URL, json={"in_data_selection": "nebraska_images"}).status_code == 401
        assert not engine.runs

    def test_huge_body_is_413(self, client: TestClient, auth: Auth) -> None:
        answer = start(client, auth, {"in_data_selection": "nebraska_images", "x": "a" * 300_000})
        assert answer.status_code == 413

    def test_idempotency_key_returns_the_first_run(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        body = {"in_data_selection": "nebraska_images"}
        first = start(client, auth, body, **{"Idempotency-Key": "abc"})
        second = start(client, auth, body, **{"Idempotency-Key": "abc"})
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotency-replayed"] == "true"
        assert len(engine.runs) == 1

    def test_same_key_for_another_user_is_another_run(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        start(client, auth, {"in_data_selection": "nebraska_images"}, **{"Idempotency-Key": "abc"})
        start(
            client,
            auth,
            {"in_data_selection": "nebraska_images"},
            user="dliu",
            **{"Idempotency-Key": "abc"},
        )
        assert len(engine.runs) == 2

    def test_dry_run_starts_nothing(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        answer = client.post(
            URL + "?dry_run=true",
            json={"in_data_selection": "nebraska_images"},
            headers=auth("thomas"),
        )
        assert answer.status_code == 200
        assert answer.json()["status"] == "validated"
        assert answer.json()["conf"]["in_bucket"] == "edrn-data"
        assert not engine.runs


class TestListRuns:
    def test_only_my_runs_newest_first(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        mine = started(client, auth, 3)
        start(client, auth, {"in_data_selection": "nebraska_images"}, user="dliu")
        engine.finish("nebraska_demo", mine[0], RunStatus.SUCCESS)
        runs = client.get(URL, headers=auth("thomas")).json()["runs"]
        assert [r["run_id"] for r in runs] == mine[::-1]
        assert runs[-1]["status"] == "success"
        assert "in_bucket" not in runs[0]["conf"] and "username" not in runs[0]["conf"]
        assert runs[0]["conf"]["in_data_selection"] == "nebraska_images"
        assert runs[0]["output_url"].startswith("http://testserver/output-data/")

    def test_a_run_keeps_its_place_when_it_starts_after_a_later_one_was_queued(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        mine = started(client, auth, 3)
        key = ("nebraska_demo", mine[0])  # the first starts after the third was queued
        engine.runs[key] = replace(
            engine.runs[key], status=RunStatus.RUNNING, start_time=datetime.now(UTC) + timedelta(5)
        )
        runs = client.get(URL, headers=auth("thomas")).json()["runs"]
        assert [r["run_id"] for r in runs] == mine[::-1]
        paged = client.get(URL, params={"limit": 2}, headers=auth("thomas")).json()
        rest = client.get(paged["next"], headers=auth("thomas")).json()["runs"]
        assert [r["run_id"] for r in paged["runs"] + rest] == mine[::-1]

    def test_runs_of_a_prefix_sharing_user_are_not_mine(
        self, client: TestClient, auth: Auth, engine: FakeEngine
    ) -> None:
        engine.trigger_run("nebraska_demo", "labcas__thomas__x", {"username": "thomas_"})
        assert client.get(URL, headers=auth("thomas")).json() == {"runs": []}

    def test_invisible_workflow_is_404(self, client: TestClient, auth: Auth) -> None:
        assert client.get(URL, headers=auth("mallory")).status_code == 404


class TestAudit:
    def test_run_start_is_audited(
        self, client: TestClient, auth: Auth, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level("INFO", logger="labcas_workflow_api.audit")
        answer = start(
            client, auth, {"in_data_selection": "nebraska_images"}, **{"X-Request-ID": "req-42"}
        )
        records = [
            json.loads(r.getMessage())
            for r in caplog.records
            if r.name == "labcas_workflow_api.audit"
        ]
        assert records == [
            {
                "audit": "run.start",
                "user": "thomas",
                "at": records[0]["at"],
                "request_id": "req-42",
                "outcome": "ok",
                "workflow": "nebraska_demo",
                "data_selection": "nebraska_images",
                "run_id": answer.json()["run_id"],
                "replayed": False,
            }
        ]

    def test_refusal_is_audited(
        self, client: TestClient, auth: Auth, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level("INFO", logger="labcas_workflow_api.audit")
        start(client, auth, {"in_data_selection": "other/images"})
        record = json.loads(caplog.records[-1].getMessage())
        assert record["outcome"] == "refused 403"
        assert record["data_selection"] == "other/images"


REQUEST = b'{"in_data_selection": "nebraska_images"}'
TIMEOUT = "Airflow did not answer in time (POST .../dagRuns)"


def held_starts(
    container: Container, engine: FakeEngine, key: str, callers: int, *, fail: bool = False
) -> list[Started | str]:
    """``callers`` keyed starts at once, Airflow's trigger held until they are all waiting,
    then answering (or timing out with ``fail``): each start's outcome, or its 504 detail."""
    release = threading.Event()
    trigger = engine.trigger_run

    def held_trigger(*args: Any) -> Any:
        release.wait(5)
        if fail:
            raise UpstreamTimeout(TIMEOUT)
        return trigger(*args)

    request = parse_run_request(REQUEST, "nebraska_demo")

    def start_one(_: int) -> Started | str:
        try:
            return container.runs.start("thomas", "nebraska_demo", request, idempotency_key=key)
        except UpstreamTimeout as exc:
            return exc.detail

    engine.trigger_run = held_trigger  # type: ignore[method-assign]
    try:
        with ThreadPoolExecutor(callers) as pool:
            pending = [pool.submit(start_one, n) for n in range(callers)]
            time.sleep(0.3)
            release.set()
            return [f.result() for f in pending]
    finally:
        engine.trigger_run = trigger  # type: ignore[method-assign]


class TestConcurrentKeyedStarts:
    """Identical keyed starts in flight at once share one trigger (a double click, a client
    retrying after its own timeout); the other answers are replays of it."""

    def test_ten_at_once_send_one_trigger(self, container: Container, engine: FakeEngine) -> None:
        started = held_starts(container, engine, "k1", 10)
        assert all(isinstance(s, Started) for s in started)
        assert [c[0] for c in engine.calls].count("trigger_run") == 1
        assert len({s.run.run_id for s in started if isinstance(s, Started)}) == 1
        assert sorted(s.replayed for s in started if isinstance(s, Started)) == [False] + [True] * 9

    def test_a_failed_first_start_answers_the_waiting_ones_and_the_next_tries_again(
        self, container: Container, engine: FakeEngine
    ) -> None:
        outcomes = held_starts(container, engine, "k2", 5, fail=True)
        answers = {a if isinstance(a, str) else "started" for a in outcomes}
        assert len(answers) == 1
        assert answers.pop().startswith(f"{TIMEOUT}; run 'labcas__thomas__k")
        assert [c[0] for c in engine.calls].count("get_workflow") == 1
        request = parse_run_request(REQUEST, "nebraska_demo")
        again = container.runs.start("thomas", "nebraska_demo", request, idempotency_key="k2")
        assert not again.replayed
