"""An independent GA4GH WES client (``wes_client`` of PyPI's ``wes-service``) drives real runs
through the WES face, on Airflow 3 and on Airflow 2: service-info, submit, status until
``COMPLETE``, run log, task list and a task's log, the run list, and cancel of a running run.

What the library cannot do as it is (wes-service 5.0), and how each step is driven instead:
``WESClient.run`` sends no ``Authorization`` header (it is commented out in the library) and
insists on a local or downloadable ``.py``/``.cwl``/``.wdl`` file that it compiles or parses
before sending; a curated workflow here is named, never uploaded. So a submission is the
library's own request (the parts ``build_wes_request`` makes: ``workflow_params`` as JSON
text, ``workflow_type``, ``workflow_type_version``, ``workflow_url``, sent by ``requests`` as
a form, URL-encoded without attachments) with the bearer header, read by its ``wes_response``.
The task list (``task_logs_url``) has no client method: it is fetched the same way. Every other
step is a ``WESClient`` method as it is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from wes_client.util import WESClient, wes_response

from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.devstack.stack import seed_demo_images
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.settings import Settings
from tests.integration.api_fixtures import ACCESS_CONFIG, SECRET, ApiServer, serve_app
from tests.release import track
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

DEMO = "nebraska_demo"
SLEEP = "labcas_sleep"
ENGINES = {"airflow3": "airflow3", "airflow2": "airflow2"}


@dataclass
class Face:
    """The WES face of an API on one Airflow, and a WES client per user."""

    airflow: str
    api: ApiServer
    timings: dict[str, float]

    def client(self, user: str) -> WESClient:
        host = self.api.url.removeprefix("http://") + "/dev"  # the stage prefix, as on AWS
        return WESClient({"auth": self.api.headers(user), "proto": "http", "host": host})

    def submit(self, user: str, parts: list[tuple[str, str]], **kwargs: Any) -> str:
        """A run request as the library sends one, with the bearer header it leaves out."""
        client = self.client(user)
        url = f"{client.proto}://{client.host}/ga4gh/wes/v1/runs"
        answer = wes_response(requests.post(url, data=parts, headers=client.auth, **kwargs))
        return str(answer["run_id"])

    def get(self, user: str, url: str) -> dict[str, Any]:
        return wes_response(requests.get(url, headers=self.client(user).auth, timeout=60))


def parts(workflow: str, type_version: str, **params: Any) -> list[tuple[str, str]]:
    return [
        ("workflow_params", json.dumps(params)),
        ("workflow_type", "AIRFLOW_DAG"),
        ("workflow_type_version", type_version),
        ("workflow_url", workflow),
    ]


@pytest.fixture(
    scope="module",
    params=[pytest.param(name, marks=pytest.mark.uses(name)) for name in ENGINES],
)
def face(
    request: pytest.FixtureRequest, s3_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Face]:
    airflow = request.getfixturevalue(request.param)
    seed_demo_images(s3_server)
    config_path = tmp_path_factory.mktemp(f"wes-{request.param}") / "access.yml"
    config_path.write_text(ACCESS_CONFIG)
    settings = Settings(
        config=str(config_path),
        engine=ENGINES[request.param],
        engine_url=airflow.url,
        engine_username=airflow.username,
        engine_password=airflow.password,
        staging_bucket="labcas-staging",
        s3_endpoint_url=s3_server.endpoint_url,
        jwt_secret=SECRET,
        stage="dev",
        _env_file=None,  # type: ignore[call-arg]
    )
    from tests.integration.storage_fixtures import s3_store

    container = build_container(settings, store=s3_store(s3_server))
    served = serve_app(create_app(container=container), settings)
    stop = track("face", served.stop)  # stopped once no later test uses `face`
    timings: dict[str, float] = {}
    try:
        yield Face(
            request.param, ApiServer(served.url, settings, container, config_path, SECRET), timings
        )
    finally:
        stop()
        print(
            f"\nWES client on {request.param}: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
        )


def timed(face: Face, what: str, began: float) -> None:
    face.timings[what] = time.monotonic() - began


def test_the_demo_end_to_end_and_a_cancel(face: Face) -> None:
    thomas, dliu, ada = face.client("thomas"), face.client("dliu"), face.client("ada")
    began = time.monotonic()
    info = thomas.get_service_info()
    timed(face, "service-info", began)
    assert info["type"] == {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"}
    [(engine, versions)] = info["workflow_engine_versions"].items()
    major = versions["workflow_engine_version"][0].split(".")[0]
    assert engine == "Apache Airflow" and major == face.airflow[-1]
    assert major in info["workflow_type_versions"]["AIRFLOW_DAG"]["workflow_type_version"]

    began = time.monotonic()
    run_id = face.submit(
        "thomas", parts(DEMO, major, in_data_selection="nebraska_images", tile_size=32)
    )
    timed(face, "submit", began)
    assert run_id.startswith(f"{DEMO}~labcas__thomas__")

    def finished() -> str | None:
        state = str(thomas.get_run_status(run_id)["state"])
        return (
            state if state in ("COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED") else None
        )

    began = time.monotonic()
    assert wait_until(finished, 300, interval=2, what=f"WES run {run_id}") == "COMPLETE"
    timed(face, "run to COMPLETE", began)

    log = thomas.get_run_log(run_id)
    assert log["state"] == "COMPLETE" and log["run_log"]["end_time"].endswith("Z")
    assert log["request"]["workflow_params"] == {
        "in_data_selection": "nebraska_images",
        "tile_size": 32,
    }
    assert log["outputs"]["output_url"].startswith(f"{face.api.url}/dev/output-data/")
    tasks = face.get("thomas", log["task_logs_url"])["task_logs"]
    assert tasks[0]["name"] == "list_inputs" and {t["state"] for t in tasks} == {"COMPLETE"}
    text = requests.get(tasks[0]["stdout"], headers=thomas.auth, timeout=60)
    assert text.status_code == 200 and text.text
    crate = requests.get(log["outputs"]["ro_crate_url"], headers=thomas.auth, timeout=120)
    assert crate.status_code == 200, crate.text
    listed = [r["run_id"] for r in thomas.list_runs()["runs"]]
    assert run_id in listed
    with pytest.raises(Exception, match="404"):
        dliu.get_run_log(run_id)  # another user's run: not found

    began = time.monotonic()
    sleeper = face.submit(
        "ada",
        parts(SLEEP, major, in_data_selection="sleep_inputs", seconds=600),
        files=[("tags", (None, json.dumps({"why": "cancel test"})))],  # multipart, this time
    )
    wait_until(
        lambda: ada.get_run_status(sleeper)["state"] == "RUNNING" or None,
        240,
        interval=1,
        what="the sleep run to be RUNNING",
    )
    timed(face, "sleep run to RUNNING", began)
    with pytest.raises(Exception, match="404"):
        thomas.cancel(sleeper)
    began = time.monotonic()
    assert ada.cancel(sleeper) == {"run_id": sleeper}
    assert ada.get_run_status(sleeper)["state"] == "CANCELED"
    timed(face, "cancel", began)
    summary = next(r for r in ada.list_runs()["runs"] if r["run_id"] == sleeper)
    assert summary["tags"] == {"why": "cancel test"} and summary["state"] == "CANCELED"
