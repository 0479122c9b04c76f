"""The RO-Crate of real runs over real HTTP on Airflow 3 and SeaweedFS, checked by roc-validator
offline against the Workflow Run Crate 0.5 profile at the REQUIRED level: a finished demo run
(JSON and zip), a failed run, a cancelled run; the crate names the right user, workflow
version, data selection, parameters and every output file; nobody else reads it; a crate
whose context the validator cannot load fails."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.models import RunStatus
from labcas_workflow_api.service import provenance_crate
from labcas_workflow_api.service.provenance import crate_path, media_type
from tests.integration.api_fixtures import ApiServer
from tests.integration.storage_fixtures import STAGING_BUCKET
from tests.support import rocrate_validation as validator
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

DEMO = "nebraska_demo"
SLEEP = "labcas_sleep"
SCHEMA = "http://schema.org/"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The validator's offline HTTP cache, holding the RO-Crate 1.1 context only."""
    documents = {validator.RO_CRATE_11: validator.ro_crate_11_context()}
    return validator.offline_cache(tmp_path_factory.mktemp("jsonld") / "http", documents)


def client(api: ApiServer, user: str) -> httpx.Client:
    return httpx.Client(base_url=api.url, headers=api.headers(user), timeout=120)


def start(http: httpx.Client, workflow: str, selection: str, **params: Any) -> str:
    answer = http.post(
        f"/workflows/{workflow}/runs", json={"in_data_selection": selection, **params}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["run_id"])


def finished(http: httpx.Client, workflow: str, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        answer = http.get(f"/workflows/{workflow}/runs/{run_id}")
        if answer.status_code != 200:
            return None
        run = answer.json()
        return run if RunStatus(run["status"]).finished else None

    result: dict[str, Any] = wait_until(done, 300, interval=2, what=f"run {run_id} to finish")
    return result


def entities(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entity["@id"]: entity for entity in document["@graph"]}


def ids(value: Any) -> list[str]:
    return [v["@id"] for v in (value if isinstance(value, list) else [value])]


def action_of(graph: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (action,) = [e for e in graph.values() if e["@type"] == "CreateAction"]
    return action


@pytest.fixture(scope="module")
def thomas(api_server: ApiServer) -> Iterator[httpx.Client]:
    with client(api_server, "thomas") as http:
        yield http


@pytest.fixture(scope="module")
def demo(thomas: httpx.Client) -> dict[str, Any]:
    """A finished demo run of thomas, with its crate as JSON and as a zip (and their timings)."""
    run_id = start(thomas, DEMO, "nebraska_images", tile_size=48, min_area=20)
    run = finished(thomas, DEMO, run_id)
    assert run["status"] == "success", run
    thomas.put(  # a metadata property on one output, which the crate must carry
        run["output_url"],
        json={"files": {"summary.csv": {"properties": {"reviewed_by": "thomas"}}}},
    ).raise_for_status()
    began = time.monotonic()
    as_json = thomas.get(crate_path(DEMO, run_id))
    json_seconds = time.monotonic() - began
    began = time.monotonic()
    as_zip = thomas.get(crate_path(DEMO, run_id), params={"format": "zip"})
    zip_seconds = time.monotonic() - began
    assert as_json.status_code == 200, as_json.text
    assert as_zip.status_code == 200, as_zip.text
    print(
        f"\ndemo run crate: JSON {len(as_json.content):,} B in {json_seconds:.2f}s, "
        f"zip {len(as_zip.content):,} B in {zip_seconds:.2f}s"
    )
    return {"run": run, "json": as_json, "zip": as_zip}


class TestTheDemoRunsCrate:
    def test_the_zip_is_valid_offline(
        self, demo: dict[str, Any], cache: Path, tmp_path: Path
    ) -> None:
        path = tmp_path / "crate.zip"
        path.write_bytes(demo["zip"].content)
        verdict = validator.validate(path, cache)
        print(f"\nzip: {verdict}")
        assert verdict.ok, str(verdict)

    def test_the_json_answer_is_valid_offline(self, demo: dict[str, Any], cache: Path) -> None:
        assert demo["json"].headers["content-type"] == "application/ld+json"
        archive = zipfile.ZipFile(io.BytesIO(demo["zip"].content))
        files = {"ro-crate-metadata.json": demo["json"].content}
        files["nebraska_demo.py"] = archive.read("nebraska_demo.py")
        verdict = validator.validate_files(files, cache)
        print(f"\nJSON: {verdict}")
        assert verdict.ok, str(verdict)

    def test_the_zip_holds_the_metadata_the_preview_and_the_dag_file(
        self, demo: dict[str, Any]
    ) -> None:
        archive = zipfile.ZipFile(io.BytesIO(demo["zip"].content))
        assert set(archive.namelist()) == {
            "ro-crate-metadata.json",
            "ro-crate-preview.html",
            "nebraska_demo.py",
        }
        assert "def nebraska_demo" in archive.read("nebraska_demo.py").decode()
        assert demo["run"]["run_id"] in archive.read("ro-crate-preview.html").decode()

    def test_it_names_the_user_the_status_and_the_times(self, demo: dict[str, Any]) -> None:
        graph = entities(demo["json"].json())
        action = action_of(graph)
        assert action["agent"] == {"@id": "urn:labcas:user:thomas"}
        assert graph["urn:labcas:user:thomas"]["name"] == "thomas"
        assert action["actionStatus"] == {"@id": SCHEMA + "CompletedActionStatus"}
        assert action["startTime"] == demo["run"]["start_time"]
        assert action["endTime"] == demo["run"]["end_time"]

    def test_it_names_the_workflow_version_the_run_used(
        self, demo: dict[str, Any], api_server: ApiServer
    ) -> None:
        graph = entities(demo["json"].json())
        workflow = graph[action_of(graph)["instrument"]["@id"]]
        engine = api_server.container.engine
        version = engine.workflow_version(DEMO, demo["run"]["run_id"])
        assert version.version is not None and version.source_sha256 is not None
        assert workflow["version"] == version.version
        identifiers = {
            graph[i]["propertyID"]: graph[i]["value"] for i in ids(workflow["identifier"])
        }
        assert identifiers["sha256"] == version.source_sha256
        assert identifiers["airflow_bundle"] == version.bundle_name
        (software,) = [e for e in graph.values() if e["@type"] == "SoftwareApplication"]
        assert software["name"] == "Apache Airflow"
        assert software["softwareVersion"] == engine.engine_version().version
        assert software["softwareVersion"].startswith("3.")

    def test_it_names_the_data_selection_and_every_parameter(
        self, demo: dict[str, Any], api_server: ApiServer
    ) -> None:
        graph = entities(demo["json"].json())
        action = action_of(graph)
        data = graph["s3://edrn-data/nebraska_images/"]
        assert data["identifier"] == "nebraska_images" and data["@id"] in ids(action["object"])
        values = {
            graph[i]["name"]: graph[i]["value"]
            for i in ids(action["object"])
            if graph[i]["@type"] == "PropertyValue"
        }
        dag = api_server.container.engine.get_workflow(DEMO)
        assert values == {"tile_size": 48, "min_area": 20, "threshold_method": "otsu"}
        assert set(values) == set(dag.parameters)
        formal = {graph[i]["name"] for i in ids(graph["nebraska_demo.py"]["input"])}
        assert formal == {*dag.parameters, "in_data_selection"}

    def test_it_lists_every_output_file_as_the_store_has_it(
        self, demo: dict[str, Any], s3_server: Any
    ) -> None:
        run = demo["run"]
        folder = f"thomas/{run['output_url'].rstrip('/').rsplit('/', 1)[1]}/"
        listed = s3_server.client().list_objects_v2(Bucket=STAGING_BUCKET, Prefix=folder)
        objects = {o["Key"]: o for o in listed["Contents"]}
        data = {
            key: info
            for key, info in objects.items()
            if not (key.endswith(sidecar.SUFFIX) and key[: -len(sidecar.SUFFIX)] in objects)
        }
        assert len(data) >= 4  # three files per image and the summary
        graph = entities(demo["json"].json())
        results = {graph[i]["@id"]: graph[i] for i in ids(action_of(graph)["result"])}
        assert set(results) == {f"s3://{STAGING_BUCKET}/{key}" for key in data}
        for key, info in data.items():
            entity = results[f"s3://{STAGING_BUCKET}/{key}"]
            assert entity["contentSize"] == str(info["Size"])
            assert entity["encodingFormat"] == media_type(key)
            etag = graph[entity["identifier"]["@id"]]
            assert etag["value"] == info["ETag"].strip('"')
        summary = results[f"s3://{STAGING_BUCKET}/{folder}summary.csv"]
        (reviewed,) = [graph[i] for i in ids(summary["additionalProperty"])]
        assert (reviewed["name"], reviewed["value"]) == ("reviewed_by", "thomas")
        zipped = json.loads(
            zipfile.ZipFile(io.BytesIO(demo["zip"].content)).read("ro-crate-metadata.json")
        )
        assert set(ids(action_of(entities(zipped))["result"])) == set(results)

    @pytest.mark.parametrize("user", ["dliu", "eve", "mallory"])
    def test_nobody_else_reads_it(
        self, demo: dict[str, Any], api_server: ApiServer, user: str
    ) -> None:
        with client(api_server, user) as other:
            for query in ({}, {"format": "zip"}):
                answer = other.get(crate_path(DEMO, demo["run"]["run_id"]), params=query)
                assert answer.status_code == 404, answer.text
                assert "s3://" not in answer.text


class TestRunsThatDidNotSucceed:
    def test_a_failed_run_has_a_valid_crate_saying_it_failed(
        self, api_server: ApiServer, cache: Path
    ) -> None:
        with client(api_server, "eve") as eve:  # eve_images holds no image: list_inputs fails
            run_id = start(eve, DEMO, "eve_images")
            run = finished(eve, DEMO, run_id)
            assert run["status"] == "failed", run
            self.check(eve, DEMO, run_id, "failed", cache)

    def test_a_cancelled_run_has_a_valid_crate_with_the_status_the_api_reports(
        self, api_server: ApiServer, cache: Path
    ) -> None:
        with client(api_server, "ada") as ada:
            wait_until(lambda: ada.get(f"/workflows/{SLEEP}").is_success, 120, what="labcas_sleep")
            run_id = start(ada, SLEEP, "sleep_inputs", seconds=600)

            def running() -> bool:
                tasks = ada.get(f"/workflows/{SLEEP}/runs/{run_id}").json()["tasks"]
                return any(t["task_id"] == "wait" and t["state"] == "running" for t in tasks)

            wait_until(running, 240, what="the wait task to run")
            assert ada.post(f"/workflows/{SLEEP}/runs/{run_id}/cancel").status_code == 200
            run = finished(ada, SLEEP, run_id)
            self.check(ada, SLEEP, run_id, run["status"], cache)

    @staticmethod
    def check(http: httpx.Client, workflow: str, run_id: str, status: str, cache: Path) -> None:
        answer = http.get(crate_path(workflow, run_id), params={"format": "zip"})
        assert answer.status_code == 200, answer.text
        archive = zipfile.ZipFile(io.BytesIO(answer.content))
        graph = entities(json.loads(archive.read("ro-crate-metadata.json")))
        action = action_of(graph)
        expected = provenance_crate.action_status(RunStatus(status))
        assert action["actionStatus"] == {"@id": expected}
        assert expected == SCHEMA + "FailedActionStatus" and "error" in action
        files = {name: archive.read(name) for name in archive.namelist()}
        verdict = validator.validate_files(files, cache)
        print(f"\n{workflow} run {status}: {verdict}")
        assert verdict.ok, str(verdict)


class TestTheValidatorItself:
    """The check fails a crate whose contexts it cannot load, rather than skip checks."""

    @pytest.fixture
    def files(self, demo: dict[str, Any]) -> dict[str, bytes]:
        archive = zipfile.ZipFile(io.BytesIO(demo["zip"].content))
        return {name: archive.read(name) for name in archive.namelist()}

    def test_an_unknown_context_fails(self, files: dict[str, bytes], cache: Path) -> None:
        document = json.loads(files["ro-crate-metadata.json"])
        document["@context"] = [document["@context"], "https://example.org/unknown/context"]
        verdict = validator.validate_files(
            {**files, "ro-crate-metadata.json": json.dumps(document).encode()}, cache
        )
        print(f"\nunknown context: {verdict}")
        assert not verdict.ok
        assert verdict.cache_misses == ["https://example.org/unknown/context"]

    def test_a_context_missing_from_the_cache_fails(
        self, files: dict[str, bytes], tmp_path: Path
    ) -> None:
        empty = validator.offline_cache(tmp_path / "empty", {})
        verdict = validator.validate_files(files, empty)
        print(f"\nno context in the cache: {verdict}")
        assert not verdict.ok
        assert verdict.cache_misses == [validator.RO_CRATE_11]
