"""A run's provenance panel in a real browser, against the real stack: who, which version,
which data, which parameters, how many outputs; the RO-Crate zip downloads."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.test_web_app import sign_in
from tests.integration.api_fixtures import ApiServer
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration
DEMO = "nebraska_demo"


@pytest.fixture(scope="module")
def finished_run(api_server: ApiServer) -> str:
    with httpx.Client(base_url=api_server.url, headers=api_server.headers("thomas")) as http:
        started = http.post(
            f"/workflows/{DEMO}/runs",
            json={"in_data_selection": "nebraska_images", "tile_size": 40},
        )
        assert started.status_code == 201, started.text
        run_id = str(started.json()["run_id"])

        def done() -> bool:
            answer = http.get(f"/workflows/{DEMO}/runs/{run_id}", timeout=30)
            return answer.status_code == 200 and answer.json()["status"] in ("success", "failed")

        wait_until(done, 300, interval=2, what=f"run {run_id}")
    return run_id


def test_the_run_page_shows_the_provenance_and_downloads_the_crate(
    page: Any, api_server: ApiServer, finished_run: str, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    sign_in(page, api_server)
    page.goto(f"{api_server.url}/ui/#/run/{DEMO}/{finished_run}")
    panel = page.locator("#provenance")
    facts = panel.locator("dl.facts")
    expect(facts).to_contain_text("urn:labcas:user:thomas")
    expect(facts).to_contain_text(re.compile(r"nebraska_demo version \d+"))
    expect(facts).to_contain_text("Apache Airflow 3.")
    expect(facts).to_contain_text("s3://edrn-data/nebraska_images/")
    expect(facts).to_contain_text("tile_size = 40")
    expect(facts).to_contain_text("threshold_method = otsu (the workflow's default)")
    expect(panel.locator("#provenance-outputs")).to_contain_text(re.compile(r"^\d+ files listed$"))
    outputs = int(panel.locator("#provenance-outputs").inner_text().split()[0])
    assert outputs >= 4
    panel.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "12-run-provenance.png", full_page=True)

    with page.expect_download() as info:
        panel.get_by_role("button", name="Download the RO-Crate (zip)").click()
    download = info.value
    assert download.suggested_filename == f"{finished_run}-ro-crate.zip"
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    assert {"ro-crate-metadata.json", "ro-crate-preview.html"} <= set(archive.namelist())
    graph = json.loads(archive.read("ro-crate-metadata.json"))["@graph"]
    (action,) = [e for e in graph if e["@type"] == "CreateAction"]
    assert len(action["result"]) == outputs
    expect(panel).to_contain_text("Downloaded")
    assert page.problems == []
