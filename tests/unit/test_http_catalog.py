"""Data selections and workflows: what each caller sees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.settings import Settings
from tests.unit.fakes import FakeEngine, FakeStore

Auth = Callable[[str], dict[str, str]]


class TestDataSelections:
    def test_lists_collections_with_a_runnable_workflow(
        self, client: TestClient, auth: Auth
    ) -> None:
        answer = client.get("/data-selections", headers=auth("thomas"))
        assert answer.status_code == 200
        assert answer.json() == {
            "data_selections": [
                {"id": "nebraska_images", "description": "Nebraska microscopy images"},
                {"id": "other/images", "description": None},
            ]
        }

    def test_undeployed_workflow_grants_nothing(self, client: TestClient, auth: Auth) -> None:
        ids = [
            d["id"]
            for d in client.get("/data-selections", headers=auth("dliu")).json()["data_selections"]
        ]
        assert ids == ["nebraska_images", "other/images"]

    def test_user_in_no_list_sees_nothing(self, client: TestClient, auth: Auth) -> None:
        assert client.get("/data-selections", headers=auth("mallory")).json() == {
            "data_selections": []
        }

    def test_unauthenticated(self, client: TestClient) -> None:
        answer = client.get("/data-selections")
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["detail"] == "missing bearer token"

    def test_served_under_the_stage_too(self, client: TestClient, auth: Auth) -> None:
        assert client.get("/dev/data-selections", headers=auth("thomas")).status_code == 200


class TestWorkflowsOfSelection:
    @pytest.mark.parametrize(
        "url",
        [
            "/data-selections/workflows?data_id=nebraska_images",
            "/data-selections/nebraska_images/workflows",
        ],
    )
    def test_both_forms(self, client: TestClient, auth: Auth, url: str) -> None:
        answer = client.get(url, headers=auth("thomas"))
        assert answer.status_code == 200
        assert answer.json() == {
            "workflows": [{"id": "nebraska_demo", "description": "Nuclei detection demo"}]
        }

    def test_ids_with_slashes(self, client: TestClient, auth: Auth) -> None:
        for url in (
            "/data-selections/workflows?data_id=other/images",
            "/data-selections/other/images/workflows",
        ):
            assert (
                client.get(url, headers=auth("dliu")).json()["workflows"][0]["id"]
                == "nebraska_demo"
            )

    def test_paused_workflow_is_still_listed(self, client: TestClient, auth: Auth) -> None:
        answer = client.get("/data-selections/other/images/workflows", headers=auth("thomas"))
        assert [w["id"] for w in answer.json()["workflows"]] == ["paused_dag"]

    def test_unknown_selection_is_404(self, client: TestClient, auth: Auth) -> None:
        answer = client.get("/data-selections/workflows?data_id=nope", headers=auth("thomas"))
        assert answer.status_code == 404
        assert "nope" in answer.json()["detail"]

    def test_selection_of_others_is_404(self, client: TestClient, auth: Auth) -> None:
        assert (
            client.get("/data-selections/private/workflows", headers=auth("thomas")).status_code
            == 404
        )

    def test_missing_data_id_is_400(self, client: TestClient, auth: Auth) -> None:
        answer = client.get("/data-selections/workflows", headers=auth("thomas"))
        assert answer.status_code == 400
        assert "data_id" in answer.json()["detail"]


class TestWorkflows:
    def test_only_runnable_workflows(self, client: TestClient, auth: Auth) -> None:
        answer = client.get("/workflows", headers=auth("thomas"))
        assert [w["id"] for w in answer.json()["workflows"]] == ["nebraska_demo", "paused_dag"]

    def test_nothing_for_unknown_user(self, client: TestClient, auth: Auth) -> None:
        assert client.get("/workflows", headers=auth("mallory")).json() == {"workflows": []}

    def test_details_with_parameters(self, client: TestClient, auth: Auth) -> None:
        answer = client.get("/workflows/nebraska_demo", headers=auth("thomas")).json()
        assert answer["data_selections"] == ["nebraska_images"]
        assert answer["parameters"]["tile_size"] == {
            "default": 64,
            "description": "Tile edge in pixels",
            "required": False,
            "type": "integer",
            "minimum": 8,
            "schema": {"type": "integer", "minimum": 8},
        }
        assert answer["parameters"]["threshold_method"]["enum"] == ["otsu", "li", "yen"]
        assert answer["paused"] is False

    @pytest.mark.parametrize("workflow", ["unlisted_dag", "no_such_dag", "undeployed_dag"])
    def test_invisible_workflows_are_404(
        self, client: TestClient, auth: Auth, workflow: str
    ) -> None:
        assert client.get(f"/workflows/{workflow}", headers=auth("thomas")).status_code == 404

    def test_hostile_id_is_rejected(self, client: TestClient, auth: Auth) -> None:
        answer = client.get("/workflows/..%2F..%2Fetc", headers=auth("thomas"))
        assert answer.status_code in (400, 404)
        assert answer.headers["content-type"] == "application/problem+json"


class TestEdges:
    def test_cors_on_errors(self, client: TestClient) -> None:
        answer = client.get("/workflows", headers={"Origin": "https://ui.example"})
        assert answer.status_code == 401
        assert answer.headers["access-control-allow-origin"] == "https://ui.example"

    def test_cors_not_for_other_origins(self, client: TestClient) -> None:
        answer = client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in answer.headers

    @pytest.mark.parametrize(
        ("path", "allow"),
        [
            ("/workflows/x/runs", "GET, POST, OPTIONS"),
            ("/output-data/a/b", "GET, PUT, OPTIONS"),
            ("/output-data", "GET, PUT, OPTIONS"),
            ("/dev/data-selections", "GET, OPTIONS"),
            ("/healthz", "GET, OPTIONS"),
        ],
    )
    def test_preflight_everywhere(self, client: TestClient, path: str, allow: str) -> None:
        answer = client.options(
            path,
            headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"},
        )
        assert answer.status_code == 204
        assert answer.headers["allow"] == allow
        assert answer.headers["access-control-allow-methods"] == allow
        assert "Authorization" in answer.headers["access-control-allow-headers"]
        assert answer.headers["access-control-allow-origin"] == "https://ui.example"

    def test_every_header_our_clients_send_is_allowed(self, client: TestClient) -> None:
        answer = client.options(
            "/output-data/run1/",
            headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "GET"},
        )
        allowed = {
            h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")
        }
        assert {"authorization", "content-type", "accept", "idempotency-key", "cache-control"} <= (
            allowed
        )

    def test_options_on_unknown_path_is_404(self, client: TestClient) -> None:
        assert client.options("/nowhere").status_code == 404

    def test_request_id_echoed_or_made(self, client: TestClient) -> None:
        assert (
            client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
            == "abc-123"
        )
        made = client.get("/healthz", headers={"X-Request-ID": "bad id\twith junk"}).headers[
            "x-request-id"
        ]
        assert made != "bad id\twith junk" and len(made) == 32

    def test_unknown_path_is_problem_json(self, client: TestClient) -> None:
        answer = client.get("/nowhere")
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"

    def test_wrong_method_is_problem_json(self, client: TestClient, auth: Auth) -> None:
        answer = client.delete("/workflows", headers=auth("thomas"))
        assert answer.status_code == 405
        assert answer.json()["status"] == 405

    def test_healthz_and_readyz_need_no_token(self, client: TestClient) -> None:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"config": "ok", "engine": "ok", "storage": "ok"}

    def test_readyz_reports_a_broken_config(self, client: TestClient, container) -> None:  # type: ignore[no-untyped-def]
        container.access.location = "/nonexistent.yml"
        container.access._config = None
        answer = client.get("/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["checks"]["config"] == "failed"
        assert body["request_id"] == answer.headers["x-request-id"]
        assert "nonexistent" not in answer.text

    def test_readyz_says_when_the_last_good_config_is_in_use(
        self,
        settings: Settings,
        engine: FakeEngine,
        store: FakeStore,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        reread_always = settings.model_copy(update={"config_ttl": 0})
        app = create_app(container=build_container(reread_always, engine=engine, store=store))
        client = TestClient(app)
        assert client.get("/readyz").json()["checks"]["config"] == "ok"
        Path(settings.config).write_text("collections: [broken")
        answer = client.get("/readyz")
        assert answer.status_code == 200, answer.text
        assert answer.json()["checks"]["config"] == "last good"
        assert answer.json()["request_id"] == answer.headers["x-request-id"]
        assert "not valid YAML" in caplog.text
        assert "not valid YAML" not in answer.text and settings.config not in answer.text
