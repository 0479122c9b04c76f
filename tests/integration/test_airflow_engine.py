"""The Airflow 3 adapter against a real Airflow 3.3.2 standalone and SeaweedFS S3."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from labcas_workflow_api.devstack.airflow import AirflowServer
from labcas_workflow_api.devstack.images import make_images
from labcas_workflow_api.domain.errors import Conflict, InvalidParameters, NotFound
from labcas_workflow_api.domain.models import Run, RunStatus
from labcas_workflow_api.engines.airflow import V2, AirflowEngine
from tests.integration.storage_fixtures import DATA_BUCKET, STAGING_BUCKET
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

DAG = "nebraska_demo"
IMAGES = make_images(n=3, size=192, seed=7)


@pytest.fixture(scope="module")
def engine(airflow3: AirflowServer) -> Iterator[AirflowEngine]:
    with AirflowEngine(airflow3.url, airflow3.username, airflow3.password) as engine:
        yield engine


@pytest.fixture(scope="module")
def in_prefix(s3_server: Any) -> str:
    prefix = f"airflow-engine-test/{uuid.uuid4().hex[:8]}/"
    client = s3_server.client()
    for name, data in IMAGES.items():
        client.put_object(Bucket=DATA_BUCKET, Key=prefix + name, Body=data)
    client.put_object(Bucket=DATA_BUCKET, Key=prefix + "README.txt", Body=b"not an image")
    return prefix


def run_id_for(user: str) -> str:
    return f"labcas__{user}__{datetime.now(UTC):%Y%m%dT%H%M%S%f}"


def conf_for(user: str, in_prefix: str, **params: Any) -> dict[str, Any]:
    return {
        "in_data_selection": "nebraska_images",
        "in_bucket": DATA_BUCKET,
        "in_prefix": in_prefix,
        "out_bucket": STAGING_BUCKET,
        "out_prefix": f"{user}/{datetime.now(UTC):%Y%m%dT%H%M%S%f}",
        "username": user,
        **params,
    }


def wait_finished(engine: AirflowEngine, run_id: str, timeout: float = 240) -> Run:
    """The run once finished; a slow answer from Airflow on the way is "not yet"."""

    def finished() -> Run | None:
        run = engine.get_run(DAG, run_id)
        return run if run.status.finished else None

    return wait_until(finished, timeout, what=f"run {run_id} to finish")


def trigger(engine: AirflowEngine, run_id: str, conf: dict[str, Any]) -> Run:
    """Start a run, asking again when Airflow answers too late (the run id is ours: a retry
    of a trigger that did reach Airflow finds the run)."""

    def once() -> Run:
        try:
            return engine.trigger_run(DAG, run_id, conf)
        except Conflict:
            return engine.get_run(DAG, run_id)

    return wait_until(once, 120, what=f"run {run_id} to start")


@pytest.fixture(scope="module")
def runs(engine: AirflowEngine, in_prefix: str) -> dict[str, Any]:
    """One finished run for avery and one for blake, started together."""
    started = time.monotonic()
    first = trigger(engine, run_id_for("avery"), conf_for("avery", in_prefix, tile_size=32))
    second = trigger(engine, run_id_for("blake"), conf_for("blake", in_prefix))
    finished = {
        "avery": wait_finished(engine, first.run_id),
        "blake": wait_finished(engine, second.run_id),
        "seconds": time.monotonic() - started,
    }
    print(f"two demo runs finished in {finished['seconds']:.1f}s")
    return finished


class TestWorkflows:
    def test_list_includes_the_demo(self, engine: AirflowEngine) -> None:
        workflows = {w.id: w for w in engine.list_workflows()}
        assert DAG in workflows
        assert workflows[DAG].paused is False
        assert "Nuclei" in (workflows[DAG].description or "")

    def test_get_returns_typed_params_with_defaults(self, engine: AirflowEngine) -> None:
        workflow = engine.get_workflow(DAG)
        params = workflow.parameters
        assert set(params) == {"tile_size", "threshold_method", "min_area"}
        assert params["tile_size"].default == 64
        assert params["tile_size"].schema == {"type": "integer", "minimum": 8}
        assert params["tile_size"].description
        assert params["threshold_method"].schema["enum"] == ["otsu", "li", "yen"]
        assert params["min_area"].schema == {"type": "integer", "minimum": 1}
        assert workflow.schedule in (None, "None")

    def test_get_unknown_is_not_found(self, engine: AirflowEngine) -> None:
        with pytest.raises(NotFound):
            engine.get_workflow("no_such_dag")

    def test_ping(self, engine: AirflowEngine) -> None:
        engine.ping()


class TestRuns:
    def test_runs_succeed_and_write_outputs(self, runs: dict[str, Any], s3_server: Any) -> None:
        thomas: Run = runs["avery"]
        assert thomas.status is RunStatus.SUCCESS, thomas
        assert thomas.start_time is not None and thomas.end_time is not None
        prefix = thomas.conf["out_prefix"] + "/"
        client = s3_server.client()
        listed = client.list_objects_v2(Bucket=STAGING_BUCKET, Prefix=prefix)
        names = {obj["Key"].removeprefix(prefix) for obj in listed.get("Contents", [])}
        expected = {"summary.csv"}
        for image in IMAGES:
            stem = image.removesuffix(".png")
            expected |= {f"{stem}.csv", f"{stem}_bw.png", f"{stem}_ov.png"}
        assert names == expected
        body = client.get_object(Bucket=STAGING_BUCKET, Key=prefix + "nuclei_00.csv")["Body"]
        rows = list(csv.DictReader(io.StringIO(body.read().decode())))
        assert rows and {"label", "area", "centroid_row", "mean_intensity"} <= rows[0].keys()
        assert all(int(row["area"]) >= 20 for row in rows)
        mask = client.get_object(Bucket=STAGING_BUCKET, Key=prefix + "nuclei_00_bw.png")
        assert mask["Body"].read().startswith(b"\x89PNG")

    def test_the_listing_shows_only_the_users_runs(
        self, engine: AirflowEngine, runs: dict[str, Any]
    ) -> None:
        mine = engine.list_user_runs([DAG], username="avery", run_id_prefix="labcas__avery__")
        assert [r.run_id for r in mine] == [runs["avery"].run_id]
        assert mine[0].status is RunStatus.SUCCESS
        assert mine[0].conf["tile_size"] == 32
        theirs = engine.list_user_runs([DAG], username="blake", run_id_prefix="labcas__blake__")
        assert [r.run_id for r in theirs] == [runs["blake"].run_id]

    def test_airflow_itself_narrows_the_listing(
        self, airflow3: AirflowServer, runs: dict[str, Any]
    ) -> None:
        with httpx.Client(timeout=10) as http:
            headers = {"Authorization": f"Bearer {airflow3.token(http)}"}
            for filters in (
                V2.run_filters("avery", "labcas__avery__"),
                {"conf_contains": V2.run_filters("avery", "labcas__avery__")["conf_contains"]},
            ):
                response = http.get(
                    f"{airflow3.url}/api/v2/dags/{DAG}/dagRuns", params=filters, headers=headers
                )
                ids = [r["dag_run_id"] for r in response.json()["dag_runs"]]
                assert runs["avery"].run_id in ids
                assert runs["blake"].run_id not in ids

    def test_get_run_of_unknown_id_is_not_found(self, engine: AirflowEngine) -> None:
        with pytest.raises(NotFound):
            engine.get_run(DAG, "labcas__avery__never")

    def test_reused_run_id_is_a_conflict(
        self, engine: AirflowEngine, runs: dict[str, Any], in_prefix: str
    ) -> None:
        with pytest.raises(Conflict):
            engine.trigger_run(DAG, runs["avery"].run_id, conf_for("avery", in_prefix))

    def test_params_failing_the_schema_are_refused_by_airflow(
        self, engine: AirflowEngine, in_prefix: str
    ) -> None:
        with pytest.raises(InvalidParameters, match="tile_size"):
            engine.trigger_run(DAG, run_id_for("avery"), conf_for("avery", in_prefix, tile_size=2))
