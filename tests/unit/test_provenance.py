"""A run's provenance over HTTP on the fakes: the Workflow Run RO-Crate's entities (who, which
workflow version, which data, which parameters, every output), the zip, the size bound, and
nobody else's run. The crate of a real run, checked by roc-validator, is in
``tests/integration/test_provenance.py``."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.domain.models import Run, RunStatus, WorkflowVersion
from labcas_workflow_api.service import provenance, provenance_crate
from labcas_workflow_api.service.provenance import (
    DataSelection,
    OutputFile,
    Outputs,
    RunFacts,
    RunRecord,
    crate_path,
    media_type,
)
from tests.unit.fakes import DEMO, DEMO_SOURCE, STAGING, FakeEngine, FakeStore

Auth = Callable[[str], dict[str, str]]
WORKFLOW = "nebraska_demo"
RUN_ID = "labcas__thomas__20261128T101010123456"
FOLDER = "thomas/20261128T101010123456/"
T0 = datetime(2026, 11, 28, 10, 10, 10, tzinfo=UTC)
T1 = datetime(2026, 11, 28, 10, 12, 0, tzinfo=UTC)
SCHEMA = "http://schema.org/"


def add_run(
    engine: FakeEngine,
    status: RunStatus = RunStatus.SUCCESS,
    *,
    user: str = "thomas",
    run_id: str = RUN_ID,
    **params: Any,
) -> str:
    conf = {
        **params,
        "in_data_selection": "nebraska_images",
        "in_bucket": "edrn-data",
        "in_prefix": "nebraska_images/",
        "out_bucket": STAGING,
        "out_prefix": f"{user}/{run_id.rsplit('__', 1)[1]}",
        "username": user,
    }
    end = T1 if status.finished else None
    engine.runs[(WORKFLOW, run_id)] = Run(run_id, WORKFLOW, status, T0, end, conf, T0)
    return run_id


def seed_outputs(store: FakeStore, folder: str = FOLDER) -> None:
    store.add(folder + "nuclei_00.csv", b"label,area\n1,52\n")
    store.add(folder + "nuclei_00_bw.png", b"\x89PNG mask")
    store.add(folder + "nuclei_00_bw.png.cfg", b"[nuclei_00_bw.png]\nquality = good\n")
    store.add(folder + "notes.cfg", b"a .cfg file of its own (no data file named notes)")
    store.add(folder + "tiles/tile 1.tif", b"II*\x00")


def graph(answer: Any) -> dict[str, dict[str, Any]]:
    document = answer.json() if hasattr(answer, "json") else answer
    assert document["@context"] == "https://w3id.org/ro/crate/1.1/context"
    return {entity["@id"]: entity for entity in document["@graph"]}


def ids(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v["@id"] for v in values]


def typed(entities: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    def types(entity: dict[str, Any]) -> list[str]:
        found = entity["@type"]
        return found if isinstance(found, list) else [found]

    return [e for e in entities.values() if kind in types(e)]


@pytest.fixture
def crate(client: TestClient, engine: FakeEngine, store: FakeStore, auth: Auth) -> dict[str, Any]:
    add_run(engine, tile_size=32)
    seed_outputs(store)
    answer = client.get(crate_path(WORKFLOW, RUN_ID), headers=auth("thomas"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/ld+json"
    return graph(answer)


class TestTheCrate:
    def test_the_root_conforms_to_the_workflow_run_crate_profiles(
        self, crate: dict[str, dict[str, Any]]
    ) -> None:
        root = crate["./"]
        assert {
            "https://w3id.org/ro/wfrun/process/0.5",
            "https://w3id.org/ro/wfrun/workflow/0.5",
            "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
        } <= set(ids(root["conformsTo"]))
        assert root["mainEntity"] == {"@id": "nebraska_demo.py"}
        assert crate["ro-crate-metadata.json"]["about"] == {"@id": "./"}
        assert {"name", "description", "datePublished", "license", "publisher"} <= set(root)

    def test_the_run_is_a_create_action_by_the_user(self, crate: dict[str, dict[str, Any]]) -> None:
        (action,) = typed(crate, "CreateAction")
        run_url = "http://testserver" + crate_path(WORKFLOW, RUN_ID).removesuffix("/ro-crate")
        assert action["@id"] == run_url
        assert action["@id"] in ids(crate["./"]["mentions"])
        assert action["actionStatus"] == {"@id": SCHEMA + "CompletedActionStatus"}
        assert action["startTime"] == T0.isoformat() and action["endTime"] == T1.isoformat()
        assert action["agent"] == {"@id": "urn:labcas:user:thomas"}
        person = crate["urn:labcas:user:thomas"]
        assert person["@type"] == "Person" and person["name"] == "thomas"
        assert "email" not in person
        assert "error" not in action

    def test_the_instrument_is_the_dag_at_the_version_the_run_used(
        self, crate: dict[str, dict[str, Any]]
    ) -> None:
        (action,) = typed(crate, "CreateAction")
        workflow = crate[action["instrument"]["@id"]]
        assert set(workflow["@type"]) == {"File", "SoftwareSourceCode", "ComputationalWorkflow"}
        assert workflow["name"] == WORKFLOW and workflow["version"] == "2"
        assert crate[workflow["programmingLanguage"]["@id"]]["@type"] == "ComputerLanguage"
        values = {crate[i]["propertyID"]: crate[i]["value"] for i in ids(workflow["identifier"])}
        assert values["sha256"] == hashlib.sha256(DEMO_SOURCE.encode()).hexdigest()
        assert values["airflow_bundle"] == "dags-folder"
        (engine,) = typed(crate, "SoftwareApplication")
        assert (engine["name"], engine["softwareVersion"]) == ("Apache Airflow", "3.3.2")
        (organize,) = typed(crate, "OrganizeAction")
        assert organize["instrument"] == {"@id": engine["@id"]}
        assert ids(organize["result"]) == [action["@id"]]

    def test_every_dag_param_is_a_formal_parameter_and_every_value_a_property_value(
        self, crate: dict[str, dict[str, Any]]
    ) -> None:
        workflow = crate["nebraska_demo.py"]
        formal = {crate[i]["name"]: crate[i] for i in ids(workflow["input"])}
        assert set(formal) == {*DEMO.parameters, "in_data_selection"}
        assert formal["tile_size"]["additionalType"] == "Integer"
        assert formal["tile_size"]["defaultValue"] == 64
        assert formal["tile_size"]["valueRequired"] is False
        assert formal["threshold_method"]["additionalType"] == "Text"
        assert formal["in_data_selection"]["additionalType"] == "Dataset"
        (action,) = typed(crate, "CreateAction")
        objects = [crate[i] for i in ids(action["object"])]
        values = {o["name"]: o for o in objects if o["@type"] == "PropertyValue"}
        assert values["tile_size"]["value"] == 32
        assert values["tile_size"]["description"] == "given when the run started"
        assert values["threshold_method"]["value"] == "otsu"  # the default, said so
        assert values["threshold_method"]["description"] == "the workflow's default"
        for name, value in values.items():
            assert value["exampleOfWork"] == {"@id": formal[name]["@id"]}
            assert value["@id"] in ids(formal[name]["workExample"])

    def test_the_object_is_the_data_selection_where_it_lives(
        self, crate: dict[str, dict[str, Any]]
    ) -> None:
        data = crate["s3://edrn-data/nebraska_images/"]
        assert data["@type"] == "Dataset"
        assert data["identifier"] == "nebraska_images" and data["name"] == "nebraska_images"
        assert data["exampleOfWork"] == {"@id": "#param-in_data_selection"}
        (action,) = typed(crate, "CreateAction")
        assert data["@id"] in ids(action["object"])

    def test_the_result_is_every_output_file_with_its_size_type_etag_and_properties(
        self, crate: dict[str, dict[str, Any]], store: FakeStore
    ) -> None:
        (action,) = typed(crate, "CreateAction")
        results = {crate[i]["name"]: crate[i] for i in ids(action["result"])}
        assert set(results) == {
            "nuclei_00.csv",
            "nuclei_00_bw.png",
            "notes.cfg",
            "tiles/tile 1.tif",
        }
        png = results["nuclei_00_bw.png"]
        assert png["@id"] == f"s3://{STAGING}/{FOLDER}nuclei_00_bw.png"
        assert png["@type"] == "File" and png["encodingFormat"] == "image/png"
        assert png["contentSize"] == str(len(b"\x89PNG mask"))
        etag = crate[png["identifier"]["@id"]]
        assert (etag["propertyID"], etag["value"]) == (
            "ETag",
            store.etag(FOLDER + "nuclei_00_bw.png"),
        )
        (quality,) = [crate[i] for i in ids(png["additionalProperty"])]
        assert (quality["name"], quality["value"]) == ("quality", "good")
        assert results["tiles/tile 1.tif"]["@id"].endswith("/tiles/tile%201.tif")
        assert results["tiles/tile 1.tif"]["encodingFormat"] == "image/tiff"
        assert all(r["@id"] in ids(crate["./"]["hasPart"]) for r in results.values())


class TestStatus:
    @pytest.mark.parametrize("status", list(RunStatus))
    def test_every_status_has_its_action_status(self, status: RunStatus) -> None:
        found = provenance_crate.action_status(status)
        assert found in {
            f"{SCHEMA}{name}ActionStatus" for name in ("Potential", "Active", "Completed", "Failed")
        }
        assert (found == SCHEMA + "CompletedActionStatus") == (status is RunStatus.SUCCESS)
        if status.finished and status is not RunStatus.SUCCESS:
            assert found == SCHEMA + "FailedActionStatus"
        if not status.finished:
            assert found != SCHEMA + "FailedActionStatus"

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            (RunStatus.QUEUED, "PotentialActionStatus"),
            (RunStatus.RUNNING, "ActiveActionStatus"),
            (RunStatus.FAILED, "FailedActionStatus"),
        ],
    )
    def test_a_run_not_succeeded_says_so(
        self,
        client: TestClient,
        engine: FakeEngine,
        auth: Auth,
        status: RunStatus,
        expected: str,
    ) -> None:
        add_run(engine, status)
        entities = graph(client.get(crate_path(WORKFLOW, RUN_ID), headers=auth("thomas")))
        (action,) = typed(entities, "CreateAction")
        assert action["actionStatus"] == {"@id": SCHEMA + expected}
        assert ("error" in action) == (status is RunStatus.FAILED)
        assert ("endTime" in action) == status.finished
        assert "result" not in action  # no outputs yet


class TestAccess:
    @pytest.mark.parametrize("user", ["dliu", "eve", "mallory"])
    def test_someone_elses_run_is_not_found(
        self, client: TestClient, engine: FakeEngine, store: FakeStore, auth: Auth, user: str
    ) -> None:
        add_run(engine)
        seed_outputs(store)
        for query in ("", "?format=zip"):
            answer = client.get(crate_path(WORKFLOW, RUN_ID) + query, headers=auth(user))
            assert answer.status_code == 404, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert "nuclei" not in answer.text and "s3://" not in answer.text

    def test_an_unknown_run_is_not_found_and_no_token_is_401(
        self, client: TestClient, auth: Auth
    ) -> None:
        path = crate_path(WORKFLOW, "labcas__thomas__nope")
        assert client.get(path, headers=auth("thomas")).status_code == 404
        assert client.get(path).status_code == 401

    def test_a_bad_format_is_400(self, client: TestClient, engine: FakeEngine, auth: Auth) -> None:
        add_run(engine)
        answer = client.get(crate_path(WORKFLOW, RUN_ID) + "?format=tar", headers=auth("thomas"))
        assert answer.status_code == 400
        assert "format" in answer.json()["detail"]


class TestZip:
    def test_the_zip_holds_the_metadata_the_preview_and_the_dag_file(
        self, client: TestClient, engine: FakeEngine, store: FakeStore, auth: Auth
    ) -> None:
        add_run(engine)
        seed_outputs(store)
        for how in ({"params": {"format": "zip"}}, {"headers": {"Accept": "application/zip"}}):
            headers = {**auth("thomas"), **how.get("headers", {})}
            answer = client.get(
                crate_path(WORKFLOW, RUN_ID), params=how.get("params"), headers=headers
            )
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"] == "application/zip"
            assert RUN_ID in answer.headers["content-disposition"]
            archive = zipfile.ZipFile(io.BytesIO(answer.content))
            assert set(archive.namelist()) == {
                "ro-crate-metadata.json",
                "ro-crate-preview.html",
                "nebraska_demo.py",
            }
            assert archive.read("nebraska_demo.py").decode() == DEMO_SOURCE
            inside = graph(json.loads(archive.read("ro-crate-metadata.json")))
            assert len(typed(inside, "File")) == 5  # four outputs and the DAG file

    def test_a_dag_file_gone_from_the_engine_is_named_by_its_url_and_left_out(self) -> None:
        """Airflow 2 shows a DAG's file as it is now: once deleted, the engine gives no source."""
        gone = WorkflowVersion(
            WORKFLOW, file_name="nebraska_demo.py", source_token="t", of_run=False
        )
        run = record(3)
        run = dataclasses.replace(run, facts=dataclasses.replace(run.facts, version=gone))
        entities = graph(json.loads(provenance_crate.metadata(run, "https://api.example")))
        main = entities["./"]["mainEntity"]["@id"]
        assert main == f"https://api.example/workflows/{WORKFLOW}"
        assert "creativeWorkStatus" in entities[main]
        zipped = provenance_crate.zipped(run, "https://api.example")
        names = zipfile.ZipFile(io.BytesIO(zipped)).namelist()
        assert sorted(names) == ["ro-crate-metadata.json", "ro-crate-preview.html"]


def record(files: int, *, properties: int = 0, complete: bool = True) -> RunRecord:
    engine = FakeEngine()
    run = Run(RUN_ID, WORKFLOW, RunStatus.SUCCESS, T0, T1, {"username": "thomas"})
    facts = RunFacts(
        "thomas",
        run,
        DEMO,
        _version(),
        engine.engine_version(),
        DataSelection("nebraska_images", "edrn-data", "nebraska_images/"),
    )
    listed = [
        OutputFile(
            STAGING,
            f"{FOLDER}sub{i % 7}/nuclei_{i:05d}.csv",
            f"sub{i % 7}/nuclei_{i:05d}.csv",
            1000 + i,
            T1,
            f"{i:032x}",
            {f"key{k}": f"value {i} {k}" for k in range(properties)},
        )
        for i in range(files)
    ]
    outputs = Outputs(STAGING, FOLDER.removeprefix("thomas/"), FOLDER, listed, complete)
    return RunRecord(facts, outputs, T1)


def _version() -> Any:
    engine = FakeEngine()
    engine.runs[(WORKFLOW, RUN_ID)] = Run(RUN_ID, WORKFLOW, RunStatus.SUCCESS)
    return engine.workflow_version(WORKFLOW, RUN_ID)


class TestSizes:
    def test_a_large_run_is_cut_in_json_with_a_note_and_whole_in_the_zip(self) -> None:
        big = record(12_000, properties=2)
        body = provenance_crate.metadata(big, "https://api.example")
        assert len(body) <= provenance_crate.MAX_JSON_BYTES
        entities = graph(json.loads(body))
        (action,) = typed(entities, "CreateAction")
        shown = len(ids(action["result"]))
        assert 1000 < shown < 12_000
        assert f"{shown:,} of its 12,000 output files are listed" in action["description"]
        assert "format=zip" in entities["./"]["description"]
        zipped = provenance_crate.zipped(big, "https://api.example")
        assert len(zipped) < 4 * 1024 * 1024  # under Lambda's 6 MB once base64-encoded
        inside = graph(
            json.loads(zipfile.ZipFile(io.BytesIO(zipped)).read("ro-crate-metadata.json"))
        )
        (action,) = typed(inside, "CreateAction")
        assert len(ids(action["result"])) == 12_000
        print(f"12,000 files: JSON {len(body):,} B ({shown:,} files), zip {len(zipped):,} B")

    def test_a_folder_over_the_listing_bound_says_so(self) -> None:
        body = provenance_crate.metadata(record(10, complete=False), "https://api.example")
        (action,) = typed(graph(json.loads(body)), "CreateAction")
        assert "holds more than 20,000 files: the first 10 are listed" in action["description"]


class TestOutputs:
    def test_the_walk_reads_every_folder_page_by_page_and_skips_sidecars(
        self, container: Any, engine: FakeEngine, store: FakeStore
    ) -> None:
        add_run(engine)
        for i in range(2500):
            store.add(f"{FOLDER}many/f{i:04d}.txt", b"x")
        store.add(f"{FOLDER}many/f0001.txt.cfg", b"[f0001.txt]\nk = v\n")
        run = engine.runs[(WORKFLOW, RUN_ID)]
        outputs = container.provenance.outputs(run)
        assert [f.path for f in outputs.files] == [f"many/f{i:04d}.txt" for i in range(2500)]
        assert outputs.files[1].properties == {"k": "v"} and outputs.complete
        assert store.calls["list"] >= 3

    def test_past_the_bound_the_first_files_are_kept_and_the_walk_stops(
        self, container: Any, engine: FakeEngine, store: FakeStore
    ) -> None:
        add_run(engine)
        container.provenance.max_files = 50
        for i in range(300):
            store.add(f"{FOLDER}f{i:03d}.txt", b"x")
        outputs = container.provenance.outputs(engine.runs[(WORKFLOW, RUN_ID)])
        assert len(outputs.files) == 50 and not outputs.complete
        assert outputs.files[0].path == "f000.txt"

    def test_sidecars_are_read_up_to_a_budget_and_the_record_says_so(
        self, container: Any, engine: FakeEngine, store: FakeStore, monkeypatch: Any
    ) -> None:
        """A folder whose sidecars are large cannot make one record hold them all: past
        ``MAX_PROPERTY_BYTES`` the files are listed without their properties, and the crate
        says so."""
        monkeypatch.setattr(provenance, "MAX_PROPERTY_BYTES", 64 * 1024)
        add_run(engine)
        big = "x" * 3000
        for i in range(200):
            store.add(f"{FOLDER}f{i:03d}.txt", b"x")
            store.add(f"{FOLDER}f{i:03d}.txt.cfg", f"[f{i:03d}.txt]\nk = {big}\n".encode())
        outputs = container.provenance.outputs(engine.runs[(WORKFLOW, RUN_ID)])
        assert len(outputs.files) == 200 and not outputs.properties_complete
        with_properties = [f for f in outputs.files if f.properties]
        assert 0 < len(with_properties) < 200
        note = provenance_crate._listing_note(
            dataclasses.replace(record(1), outputs=outputs), 200, "https://api.example"
        )
        assert "Metadata properties are given for the first files only" in note


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "text/csv"),
        ("a_bw.png", "image/png"),
        ("x.tif", "image/tiff"),
        ("summary.json", "application/json"),
        ("no_extension", "application/octet-stream"),
    ],
)
def test_media_types_come_from_the_name(name: str, expected: str) -> None:
    assert media_type(name) == expected


class TestCli:
    """``labcas-workflows provenance`` against the app on the fakes."""

    def run_cli(self, client: TestClient, auth: Auth, *args: str) -> Any:
        from typer.testing import CliRunner

        from labcas_workflow_api.client.cli import app

        token = auth("thomas")["Authorization"].removeprefix("Bearer ")
        prefix = ["--api-url", "http://testserver", "--token", token]
        return CliRunner().invoke(app, [*prefix, *args], obj={"http": client})

    def test_it_writes_the_json_crate_here_and_prints_where(
        self,
        client: TestClient,
        engine: FakeEngine,
        store: FakeStore,
        auth: Auth,
        tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        add_run(engine)
        seed_outputs(store)
        monkeypatch.chdir(tmp_path)
        result = self.run_cli(client, auth, "provenance", RUN_ID)
        assert result.exit_code == 0, result.output
        written = tmp_path / f"{RUN_ID}-ro-crate.json"
        assert result.stdout.strip() == written.name
        assert action_of_file(written)["agent"] == {"@id": "urn:labcas:user:thomas"}

    def test_zip_with_the_workflow_named_and_an_output_path(
        self, client: TestClient, engine: FakeEngine, auth: Auth, tmp_path: Any
    ) -> None:
        add_run(engine)
        target = tmp_path / "crate.zip"
        args = ("provenance", RUN_ID, "--zip", "-w", WORKFLOW, "-o", str(target))
        result = self.run_cli(client, auth, *args)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == str(target)
        assert "ro-crate-preview.html" in zipfile.ZipFile(target).namelist()

    def test_an_unknown_run_is_one_line_and_exit_2(
        self, client: TestClient, auth: Auth, tmp_path: Any
    ) -> None:
        result = self.run_cli(client, auth, "provenance", "labcas__thomas__nope")
        assert result.exit_code == 2
        assert "no run 'labcas__thomas__nope'" in result.stderr


def test_the_client_loads_no_server_code_and_the_app_no_rocrate() -> None:
    """The client builds the crate's path itself (no service, engine or store code beyond the
    run conf helpers that ``wire`` shares), and the app loads ``rocrate`` on the first crate
    only (not on a Lambda cold start)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import labcas_workflow_api.client.api\n"
        "shared = {'labcas_workflow_api.service', 'labcas_workflow_api.service.run_conf'}\n"
        "server = [m for m in sys.modules if m.startswith(('labcas_workflow_api.service',\n"
        "    'labcas_workflow_api.engines', 'labcas_workflow_api.storage'))]\n"
        "assert set(server) <= shared, server\n"
        "import labcas_workflow_api.http.app\n"
        "assert 'rocrate' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def action_of_file(path: Any) -> dict[str, Any]:
    (action,) = typed(graph(json.loads(path.read_bytes())), "CreateAction")
    return action


class TestOnLambda:
    """Through the Lambda handler: JSON-LD as text, the zip base64-encoded for API Gateway
    (which turns it back into binary for an ``Accept: application/zip`` request)."""

    def test_json_is_text_and_the_zip_is_base64(
        self, container: Any, engine: FakeEngine, store: FakeStore
    ) -> None:
        import base64

        from labcas_workflow_api.aws.api import ApiRuntime
        from labcas_workflow_api.http.app import create_app
        from tests.unit.test_aws_events import header_of, proxy_event

        add_run(engine)
        seed_outputs(store)
        runtime = ApiRuntime(create_app(container=container))
        try:
            path = crate_path(WORKFLOW, RUN_ID)
            as_json = runtime.handle(proxy_event("GET", path), None)
            assert as_json["statusCode"] == 200 and as_json["isBase64Encoded"] is False
            assert header_of(as_json, "content-type") == "application/ld+json"
            assert graph(json.loads(as_json["body"]))["./"]["mainEntity"]
            event = proxy_event("GET", path, query={"format": "zip"}, accept="application/zip")
            as_zip = runtime.handle(event, None)
            assert as_zip["statusCode"] == 200 and as_zip["isBase64Encoded"] is True
            assert header_of(as_zip, "content-type") == "application/zip"
            archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(as_zip["body"])))
            assert "ro-crate-metadata.json" in archive.namelist()
        finally:
            runtime.close()
