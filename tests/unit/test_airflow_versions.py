"""``engine_version`` and ``workflow_version`` of the Airflow adapter against scripted Airflows:
Airflow 3 names the DAG version each run used and keeps each version's source; Airflow 2 has
one source per DAG file, the file as it is now."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from labcas_workflow_api.domain.errors import NotFound, UpstreamBadResponse
from labcas_workflow_api.engines.airflow import AirflowEngine
from tests.unit import test_airflow2_engine as v1
from tests.unit import test_airflow_engine as v2

SOURCE_1 = "# version 1 of the DAG\n"
SOURCE_2 = "# version 2 of the DAG\n"
TOKEN = "Ii9vcHQvYWlyZmxvdy9kYWdzL25lYnJhc2thX2RlbW8ucHki.signature-of-the-file-token-abcdef"


def reply(body: Any, status: int = 200) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    return handler


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def dag_versions(*numbers: int, bundle_version: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "id": f"0190-{n}",
            "version_number": n,
            "dag_id": "nebraska_demo",
            "bundle_name": "dags-folder",
            "bundle_version": bundle_version,
            "created_at": "2026-01-02T03:04:00Z",
        }
        for n in numbers
    ]


class TestAirflow3:
    @pytest.fixture
    def airflow(self) -> v2.FakeAirflow:
        airflow = v2.FakeAirflow()
        airflow.runs = [
            v2.run("r1", dag_versions=dag_versions(1, 2), bundle_version=None),
            v2.run("r0", dag_versions=[]),
        ]
        sources = {"1": SOURCE_1, "2": SOURCE_2}

        def source(request: httpx.Request) -> httpx.Response:
            number = request.url.params.get("version_number", "2")
            assert request.headers["Accept"] == "application/json"
            return httpx.Response(200, json={"dag_id": "nebraska_demo", "content": sources[number]})

        details = {"dag_id": "nebraska_demo", "fileloc": "/opt/airflow/dags/nebraska_demo.py"}
        airflow.routes[("GET", "/api/v2/dagSources/nebraska_demo")] = source
        airflow.routes[("GET", "/api/v2/dags/nebraska_demo")] = reply(
            {**details, "relative_fileloc": "nebraska_demo.py"}
        )
        return airflow

    @pytest.fixture
    def engine(self, airflow: v2.FakeAirflow) -> AirflowEngine:
        return AirflowEngine(v2.BASE, "admin", "secret", transport=httpx.MockTransport(airflow))

    def test_engine_version_is_airflow_with_its_version(
        self, engine: AirflowEngine, airflow: v2.FakeAirflow
    ) -> None:
        answer = {"version": "3.3.2", "git_version": None}
        airflow.routes[("GET", "/api/v2/version")] = reply(answer)
        version = engine.engine_version()
        assert (version.name, version.version) == ("Apache Airflow", "3.3.2")
        assert version.url == "https://airflow.apache.org/"

    def test_the_version_is_asked_once_per_time_to_live(
        self, engine: AirflowEngine, airflow: v2.FakeAirflow
    ) -> None:
        airflow.routes[("GET", "/api/v2/version")] = reply({"version": "3.3.2"})
        for _ in range(5):
            assert engine.engine_version().version == "3.3.2"
        asked = [r for r in airflow.requests if r.url.path.endswith("/version")]
        assert len(asked) == 1

    def test_a_version_answer_without_a_version_is_a_bad_response(
        self, engine: AirflowEngine, airflow: v2.FakeAirflow
    ) -> None:
        airflow.routes[("GET", "/api/v2/version")] = reply({"git_version": "abc"})
        with pytest.raises(UpstreamBadResponse):
            engine.engine_version()

    def test_the_run_names_the_dag_version_it_used_and_its_source(
        self, engine: AirflowEngine, airflow: v2.FakeAirflow
    ) -> None:
        version = engine.workflow_version("nebraska_demo", "r1")
        assert version.version == "2" and version.of_run
        assert version.source == SOURCE_2 and version.source_sha256 == sha256(SOURCE_2)
        assert version.file_name == "nebraska_demo.py"
        assert (version.bundle_name, version.bundle_version) == ("dags-folder", None)
        (asked,) = [r for r in airflow.requests if r.url.path.endswith("/dagSources/nebraska_demo")]
        assert asked.url.params["version_number"] == "2"

    def test_a_versioned_bundle_is_named(
        self, engine: AirflowEngine, airflow: v2.FakeAirflow
    ) -> None:
        airflow.runs[0]["dag_versions"] = dag_versions(1, bundle_version="4f2a9c1")
        version = engine.workflow_version("nebraska_demo", "r1")
        assert (version.version, version.bundle_version) == ("1", "4f2a9c1")
        assert version.source == SOURCE_1

    def test_a_run_naming_no_version_gets_the_latest_marked_not_of_the_run(
        self, engine: AirflowEngine
    ) -> None:
        version = engine.workflow_version("nebraska_demo", "r0")
        assert version.version is None and not version.of_run
        assert version.source == SOURCE_2

    def test_a_redacted_or_missing_source_is_none(
        self, engine: AirflowEngine, airflow: v2.FakeAirflow
    ) -> None:
        redacted = {"content": "REDACTED - you do not have read permission on all Dags"}
        airflow.routes[("GET", "/api/v2/dagSources/nebraska_demo")] = reply(redacted)
        assert engine.workflow_version("nebraska_demo", "r1").source_sha256 is None
        airflow.routes[("GET", "/api/v2/dagSources/nebraska_demo")] = reply({"detail": "x"}, 404)
        version = engine.workflow_version("nebraska_demo", "r1")
        assert (version.version, version.source) == ("2", None)

    def test_an_unknown_run_is_not_found(self, engine: AirflowEngine) -> None:
        with pytest.raises(NotFound):
            engine.workflow_version("nebraska_demo", "nope")


class TestAirflow2:
    @pytest.fixture
    def airflow(self) -> v1.FakeAirflow2:
        airflow = v1.FakeAirflow2()
        airflow.runs = [v1.run("r1")]
        dag = {"dag_id": v1.DAG, "fileloc": "/opt/dags/nebraska_demo.py", "file_token": TOKEN}
        airflow.routes[("GET", f"/api/v1/dags/{v1.DAG}")] = reply(dag)
        airflow.routes[("GET", f"/api/v1/dagSources/{TOKEN}")] = reply({"content": SOURCE_1})
        airflow.routes[("GET", f"/api/v1/dags/{v1.DAG}/dagRuns/r1")] = reply(v1.run("r1"))
        airflow.routes[("GET", "/api/v1/version")] = reply({"version": "2.10.5"})
        return airflow

    @pytest.fixture
    def engine(self, airflow: v1.FakeAirflow2) -> AirflowEngine:
        return v1.engine_for(airflow)

    def test_engine_version(self, engine: AirflowEngine) -> None:
        assert engine.engine_version().version == "2.10.5"

    def test_the_source_is_the_dag_file_now_by_its_token(
        self, engine: AirflowEngine, airflow: v1.FakeAirflow2
    ) -> None:
        version = engine.workflow_version(v1.DAG, "r1")
        assert version.version is None and not version.of_run
        assert version.source_token == TOKEN
        assert version.source == SOURCE_1 and version.source_sha256 == sha256(SOURCE_1)
        assert version.file_name == "nebraska_demo.py"

    def test_a_dag_without_a_file_token_is_a_bad_response(
        self, engine: AirflowEngine, airflow: v1.FakeAirflow2
    ) -> None:
        airflow.routes[("GET", f"/api/v1/dags/{v1.DAG}")] = reply({"dag_id": v1.DAG})
        with pytest.raises(UpstreamBadResponse):
            engine.workflow_version(v1.DAG, "r1")
