"""Run lists answered on the event loop from what is held (``cache.without_waiting``), and
fetched in a thread when they are not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.cache import WouldWait, without_waiting
from labcas_workflow_api.domain.models import RunStatus
from tests.unit.fakes import FakeEngine
from tests.unit.test_http_run_control import DEMO, add_run

Auth = Callable[[str], dict[str, str]]


def listings(engine: FakeEngine) -> int:
    return sum(1 for call in engine.calls if call[0] == "list_user_runs")


def test_a_held_run_list_is_answered_without_waiting(
    client: TestClient, engine: FakeEngine
) -> None:
    runs = client.app.state.container.runs  # type: ignore[attr-defined]
    mine = add_run(engine, "thomas", 1, RunStatus.SUCCESS)
    with pytest.raises(WouldWait):
        without_waiting(runs.page, "thomas", DEMO)
    assert listings(engine) == 0
    assert [r.run_id for r in runs.page("thomas", DEMO).runs] == [mine]
    assert [r.run_id for r in without_waiting(runs.page, "thomas", DEMO).runs] == [mine]
    assert [r.run_id for r in without_waiting(runs.page_all, "thomas").runs] == [mine]
    assert [r.run_id for r in without_waiting(runs.by_folder, "thomas").values()] == [mine]
    assert listings(engine) == 1  # one list per user serves every listing


def test_without_a_run_list_cache_every_listing_waits(
    client: TestClient, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = client.app.state.container.runs  # type: ignore[attr-defined]
    monkeypatch.setattr(runs, "_list_ttl", 0)
    runs.page("thomas", DEMO)
    with pytest.raises(WouldWait):
        without_waiting(runs.page, "thomas", DEMO)


def test_the_routes_answer_the_same_held_or_not(
    client: TestClient, engine: FakeEngine, auth: Auth
) -> None:
    add_run(engine, "thomas", 1, RunStatus.SUCCESS)
    first = client.get(f"/workflows/{DEMO}/runs", headers=auth("thomas"))
    again = client.get(f"/workflows/{DEMO}/runs", headers=auth("thomas"))
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert listings(engine) == 1
