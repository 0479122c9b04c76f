"""End to end over real HTTP, real Airflow 3 and real S3: run the demo and use its outputs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.api_fixtures import ApiServer
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration
DEMO = "nebraska_demo"


def wait_for_run(api: ApiServer, user: str, run_id: str, timeout: float = 240) -> dict[str, Any]:
    """The run once finished; a slow or refused answer on the way is "not yet"."""

    def finished() -> dict[str, Any] | None:
        url = f"{api.url}/workflows/{DEMO}/runs"
        answer = httpx.get(url, headers=api.headers(user), timeout=30)
        if answer.status_code != 200:
            return None
        run = next(r for r in answer.json()["runs"] if r["run_id"] == run_id)
        return run if run["status"] in ("success", "failed", "cancelled") else None

    return wait_until(finished, timeout, interval=2, what=f"run {run_id} to finish")


def test_scientist_runs_the_demo_and_annotates_its_outputs(api_server: ApiServer) -> None:
    api, me = api_server, api_server.headers("thomas")
    with httpx.Client(base_url=api.url, headers=me, timeout=30) as http:
        selections = http.get("/data-selections").json()["data_selections"]
        assert [s["id"] for s in selections] == ["nebraska_images"]
        workflows = http.get("/data-selections/workflows", params={"data_id": "nebraska_images"})
        assert [w["id"] for w in workflows.json()["workflows"]] == [DEMO]
        detail = http.get(f"/workflows/{DEMO}").json()
        assert detail["parameters"]["tile_size"]["schema"]["minimum"] == 8

        bad = http.post(
            f"/workflows/{DEMO}/runs", json={"in_data_selection": "nebraska_images", "tile_size": 2}
        )
        assert bad.status_code == 422 and "tile_size" in bad.json()["detail"]

        started = http.post(
            f"/workflows/{DEMO}/runs",
            content='{"in_data_selection": "nebraska_images", "tile_size": 64}',
            headers={"Content-Type": "text/plain", "Idempotency-Key": "e2e-1"},
        )
        assert started.status_code == 201, started.text
        run_id = started.json()["run_id"]
        again = http.post(
            f"/workflows/{DEMO}/runs",
            json={"in_data_selection": "nebraska_images", "tile_size": 64},
            headers={"Idempotency-Key": "e2e-1"},
        )
        assert again.json()["run_id"] == run_id

        run = wait_for_run(api, "thomas", run_id)
        assert run["status"] == "success", run
        assert run["conf"] == {"in_data_selection": "nebraska_images", "tile_size": 64}
        assert run["output_url"] == started.json()["output_url"]

        folder = http.get(run["output_url"]).json()
        names = set(folder["files"])
        assert {"nuclei_00.csv", "nuclei_00_bw.png", "nuclei_00_ov.png"} <= names
        png = folder["files"]["nuclei_00_bw.png"]
        download = httpx.get(png["href"])
        assert download.status_code == 200
        assert download.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(download.content) == png["size"]

        saved = http.put(
            run["output_url"],
            json={
                "files": {
                    "nuclei_00_bw.png": {"properties": {"reviewed_by": "thomas", "quality": "good"}}
                }
            },
        )
        assert saved.json() == {"updated": ["nuclei_00_bw.png"]}
        props = http.get(run["output_url"]).json()["files"]["nuclei_00_bw.png"]["properties"]
        assert props == {"reviewed_by": "thomas", "quality": "good"}

        # the folder of a keyed run (as the web app starts them) is tied back to the run
        assert run_id.startswith("labcas__thomas__k") and run["output_folder"] not in run_id
        assert run["output_url"] == f"{api.url}/output-data/{run['output_folder']}"
        tied = http.get("/output-data").json()["folders"][run["output_folder"]]["run"]
        assert (tied["run_id"], tied["workflow_id"], tied["status"]) == (run_id, DEMO, "success")
        assert tied["conf"] == run["conf"] and tied["partial"] is False
        assert tied["href"] == f"{api.url}/workflows/{DEMO}/runs/{run_id}"
        page = http.get("/output-data/", headers={"Accept": "text/html"}).text
        assert f">{run_id}</a>" in page
        everything = http.get("/runs").json()["runs"]
        assert [r for r in everything if r["run_id"] == run_id] == [run]

    stranger = api.headers("mallory")
    assert httpx.get(f"{api.url}/data-selections", headers=stranger).json() == {
        "data_selections": []
    }
    assert httpx.get(f"{api.url}/workflows/{DEMO}/runs", headers=stranger).status_code == 404
    outsider = httpx.get(run["output_url"], headers=stranger)
    assert outsider.status_code == 403  # in no authorized_users list: no outputs at all
    eve_runs = httpx.get(f"{api.url}/workflows/{DEMO}/runs", headers=api.headers("eve")).json()[
        "runs"
    ]
    assert run_id not in [r["run_id"] for r in eve_runs]
    eve_try = httpx.post(
        f"{api.url}/workflows/{DEMO}/runs",
        json={"in_data_selection": "nebraska_images"},
        headers=api.headers("eve"),
    )
    assert eve_try.status_code == 404  # a data selection eve may use nowhere: no oracle


def test_readyz_sees_the_real_stack(api_server: ApiServer) -> None:
    answer = httpx.get(f"{api_server.url}/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"] == {"config": "ok", "engine": "ok", "storage": "ok"}


def test_stage_prefix_links(api_server: ApiServer) -> None:
    answer = httpx.post(
        f"{api_server.url}/dev/workflows/{DEMO}/runs?dry_run=true",
        json={"in_data_selection": "nebraska_images"},
        headers=api_server.headers("dliu"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["conf"]["out_prefix"].startswith("dliu/")
    assert "/dev/output-data/" in answer.json()["output_url"]
