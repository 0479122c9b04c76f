"""Starting runs when things go wrong: answers lost on the way back, keys reused with another
body, JSON that Python parses but nothing downstream carries, ids the caller may use nowhere."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.domain.errors import BadRequest, UpstreamBadResponse, UpstreamTimeout
from labcas_workflow_api.domain.json_body import parse_json
from labcas_workflow_api.service.run_conf import parse_run_request
from tests.unit.fakes import FakeEngine

Auth = Callable[[str], dict[str, str]]
URL = "/workflows/nebraska_demo/runs"
REQUEST = {"in_data_selection": "nebraska_images", "tile_size": 32}


def lose_the_answer(engine: FakeEngine, error: Exception, *, reaches: bool) -> None:
    """The next triggers fail with ``error``, after creating the run when ``reaches``."""
    trigger = engine.trigger_run

    def failing(workflow_id: str, run_id: str, conf: dict[str, Any]) -> Any:
        if reaches:
            trigger(workflow_id, run_id, conf)
        raise error

    engine.trigger_run = failing  # type: ignore[method-assign]


def audit_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "labcas_workflow_api.audit"
    ]


class TestAnswerLostOnTheWay:
    @pytest.mark.parametrize(
        "error",
        [UpstreamTimeout("Airflow did not answer in time"), UpstreamBadResponse("Airflow 502")],
    )
    def test_a_run_that_was_created_is_answered_201(
        self,
        client: TestClient,
        auth: Auth,
        engine: FakeEngine,
        error: Exception,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level("INFO", logger="labcas_workflow_api.audit")
        lose_the_answer(engine, error, reaches=True)
        answer = client.post(URL, json=REQUEST, headers=auth("thomas"))
        assert answer.status_code == 201, answer.text
        run_id = answer.json()["run_id"]
        assert ("nebraska_demo", run_id) in engine.runs
        record = audit_records(caplog)[-1]
        assert (record["outcome"], record["run_id"]) == ("ok", run_id)

    def test_a_run_that_was_not_created_keeps_the_error_and_the_audit_names_its_id(
        self,
        client: TestClient,
        auth: Auth,
        engine: FakeEngine,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level("INFO", logger="labcas_workflow_api.audit")
        lose_the_answer(engine, UpstreamTimeout("Airflow did not answer in time"), reaches=False)
        answer = client.post(URL, json=REQUEST, headers=auth("thomas"))
        assert answer.status_code == 504
        record = audit_records(caplog)[-1]
        assert record["outcome"] == "failed 504"
        assert record["run_id"].startswith("labcas__thomas__")
        # the caller is told which run may still start, so a retry can look it up first
        assert answer.json()["run_id"] == record["run_id"]
        detail = answer.json()["detail"]
        assert f"run {record['run_id']!r} may still start" in detail
        assert "Airflow" not in detail and answer.json()["request_id"] in detail
        assert engine.runs == {}


class TestIdempotencyKeyReused:
    def test_the_same_key_and_body_replays(self, client: TestClient, auth: Auth) -> None:
        headers = {**auth("thomas"), "Idempotency-Key": "same"}
        first = client.post(URL, json=REQUEST, headers=headers)
        again = client.post(URL, json=REQUEST, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.headers["Idempotency-Replayed"] == "true"
        assert again.json()["run_id"] == first.json()["run_id"]

    @pytest.mark.parametrize(
        "other",
        [
            {"in_data_selection": "nebraska_images", "tile_size": 64},
            {"in_data_selection": "nebraska_images"},
            {"in_data_selection": "nebraska_images", "tile_size": 32, "threshold_method": "li"},
        ],
    )
    def test_the_same_key_with_another_body_is_a_422(
        self, client: TestClient, auth: Auth, engine: FakeEngine, other: dict[str, Any]
    ) -> None:
        headers = {**auth("thomas"), "Idempotency-Key": "k"}
        assert client.post(URL, json=REQUEST, headers=headers).status_code == 201
        answer = client.post(URL, json=other, headers=headers)
        assert answer.status_code == 422
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["detail"] == "idempotency key reused with a different request"
        assert len(engine.runs) == 1

    def test_nested_and_top_level_params_are_the_same_request(
        self, client: TestClient, auth: Auth
    ) -> None:
        headers = {**auth("thomas"), "Idempotency-Key": "nested"}
        assert client.post(URL, json=REQUEST, headers=headers).status_code == 201
        nested = {"in_data_selection": "nebraska_images", "params": {"tile_size": 32}}
        assert client.post(URL, json=nested, headers=headers).status_code == 201


class TestStrictJson:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (b'{"in_data_selection": "nebraska_images", "tile_size": NaN}', "tile_size: NaN"),
            (b'{"in_data_selection": "nebraska_images", "tile_size": Infinity}', "Infinity"),
            (b'{"in_data_selection": "nebraska_images", "tile_size": -Infinity}', "-Infinity"),
            (b'{"in_data_selection": "nebraska_images", "tile_size": 1e999}', "too large"),
            (
                b'{"in_data_selection": "nebraska_images", "threshold_method": "\\ud800"}',
                "threshold_method: text holds a lone UTF-16 surrogate",
            ),
            (
                b'{"in_data_selection": "nebraska_images", "params": {"x": ["a", "\\udfff"]}}',
                "params.x[1]",
            ),
            (b'{"in_data_selection": "\\ud800"}', "in_data_selection"),
            (b'{"in_data_selection": "nebraska_images", "\\ud800": 1}', "a key holds"),
        ],
    )
    def test_values_nothing_downstream_carries_are_a_400_naming_the_field(
        self, client: TestClient, auth: Auth, engine: FakeEngine, body: bytes, field: str
    ) -> None:
        answer = client.post(URL, content=body, headers=auth("thomas"))
        assert answer.status_code == 400, answer.text
        assert field in answer.json()["detail"]
        assert engine.runs == {}

    def test_parse_json_names_the_path(self) -> None:
        with pytest.raises(BadRequest, match=r"files\.a\.properties\.k: text holds"):
            parse_json(b'{"files": {"a": {"properties": {"k": "\\ud83d"}}}}')

    def test_a_valid_surrogate_pair_is_fine(self) -> None:
        request = parse_run_request(b'{"in_data_selection": "x", "note": "\\ud83d\\ude00"}', "w")
        assert request.params == {"note": "\U0001f600"}


class TestNoExistenceOracle:
    """404 for any workflow or data selection the caller may use nowhere; 403 only for two
    they may use, but not together (fakes: thomas may use nebraska_images and other/images,
    and nebraska_demo, but nebraska_demo only on nebraska_images)."""

    @pytest.mark.parametrize(
        ("workflow", "selection", "status"),
        [
            ("nebraska_demo", "private", 404),  # exists, thomas may not use it
            ("nebraska_demo", "no_such_selection", 404),
            ("unlisted_dag", "nebraska_images", 404),  # deployed, enabled nowhere
            ("no_such_dag", "nebraska_images", 404),
            ("nebraska_demo", "other/images", 403),
        ],
    )
    def test_start(
        self, client: TestClient, auth: Auth, workflow: str, selection: str, status: int
    ) -> None:
        answer = client.post(
            f"/workflows/{workflow}/runs?dry_run=true",
            json={"in_data_selection": selection},
            headers=auth("thomas"),
        )
        assert answer.status_code == status, answer.text

    def test_a_typo_gets_a_suggestion_among_what_the_caller_may_use(
        self, client: TestClient, auth: Auth
    ) -> None:
        answer = client.post(
            f"{URL}?dry_run=true",
            json={"in_data_selection": "nebraska_imgs"},
            headers=auth("thomas"),
        )
        assert answer.json()["detail"] == (
            "data selection 'nebraska_imgs' not found; did you mean 'nebraska_images'?"
        )
        workflow = client.get("/workflows/nebraska_dmeo", headers=auth("thomas"))
        assert workflow.status_code == 404
        assert "did you mean 'nebraska_demo'?" in workflow.json()["detail"]

    def test_no_suggestion_names_what_the_caller_may_not_use(
        self, client: TestClient, auth: Auth
    ) -> None:
        answer = client.post(
            f"{URL}?dry_run=true", json={"in_data_selection": "privat"}, headers=auth("thomas")
        )
        assert answer.status_code == 404
        assert "did you mean" not in answer.json()["detail"]


def test_started_runs_are_replayed_to_concurrent_identical_keys(container: Container) -> None:
    """The keyed start that waited on another's trigger compares bodies too."""
    request = parse_run_request(json.dumps(REQUEST).encode(), "nebraska_demo")
    other = parse_run_request(json.dumps({**REQUEST, "tile_size": 8}).encode(), "nebraska_demo")
    container.runs.start("thomas", "nebraska_demo", request, idempotency_key="c")
    with pytest.raises(Exception, match="idempotency key reused"):
        container.runs.start("thomas", "nebraska_demo", other, idempotency_key="c")
