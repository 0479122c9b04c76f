"""The web app at /ui in a real browser, against the real stack: a scientist's whole visit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.api_fixtures import ApiServer

pytestmark = pytest.mark.integration
RUN_TIMEOUT_MS = 240_000


def sign_in(page: Any, api: ApiServer, user: str = "thomas", prefix: str = "") -> None:
    page.goto(f"{api.url}{prefix}/ui/")
    page.get_by_label("LabCAS token").fill(api.token(user))
    page.get_by_role("button", name="Sign in").click()
    page.locator("#signed-in-user").wait_for()


def test_scientist_runs_the_demo_and_annotates_an_output(
    page: Any, api_server: ApiServer, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    api = api_server
    page.goto(f"{api.url}/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path=screenshots / "01-sign-in.png")

    sign_in(page, api)
    expect(page.locator("#signed-in-user")).to_have_text("thomas")
    expect(page.locator(".expiry")).to_contain_text("token expires")
    token = api.token("thomas")
    assert token.split(".")[0] not in page.url
    assert page.evaluate("sessionStorage.getItem('labcas.token')").count(".") == 2
    page.get_by_role("link", name=re.compile("nebraska_images")).wait_for()
    page.screenshot(path=screenshots / "02-data-selections.png")

    page.get_by_role("link", name=re.compile("nebraska_images")).click()
    page.get_by_role("link", name=re.compile("nebraska_demo")).click()
    form = page.locator("form.run-form")
    expect(form.get_by_label("tile_size")).to_have_value("64")
    expect(form.get_by_label("threshold_method")).to_have_value("0")

    form.get_by_label("tile_size").fill("4")
    form.get_by_role("button", name="Run", exact=True).click()
    expect(form.locator(".field-error", has_text="tile_size must be at least 8")).to_be_visible()
    expect(form.get_by_label("tile_size")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=screenshots / "03-form-inline-error.png", full_page=True)

    form.get_by_label("tile_size").fill("32")
    form.get_by_label("threshold_method").select_option(label="li")
    form.get_by_role("button", name="Run", exact=True).click()
    new_run = page.locator("#new-run-link")
    expect(new_run).to_be_visible()
    run_id = new_run.inner_text()
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    expect(row.locator(".badge")).to_have_text(re.compile("Queued|Running|Succeeded"))
    page.screenshot(path=screenshots / "04-run-started.png", full_page=True)
    expect(row.locator(".badge")).to_have_text("Succeeded", timeout=RUN_TIMEOUT_MS)
    page.screenshot(path=screenshots / "05-runs-table.png", full_page=True)

    page.locator("#status-filter").select_option("failed")
    expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_have_count(0)
    page.locator("#status-filter").select_option("success")
    expect(row).to_be_visible()

    row.get_by_role("link", name=run_id, exact=True).click()
    expect(page.locator("dl.facts").first).to_contain_text("Succeeded")
    expect(page.locator("dl.facts").nth(1)).to_contain_text("li")
    expect(page.locator("dl.facts").first).to_contain_text(re.compile(r"(\d+) of \1 tasks done"))
    tasks = page.locator("section[aria-labelledby=tasks-title] tbody tr")
    expect(tasks.first).to_contain_text("list_inputs")
    tasks.first.get_by_role("button", name="View log").click()
    expect(page.locator("pre.log")).to_contain_text("list_inputs")
    mapped = tasks.filter(has_text="[1]")
    expect(mapped).to_contain_text("segment")
    mapped.get_by_role("button", name="View log").click()
    expect(page.locator("#log-title")).to_contain_text("[1]")
    expect(page.locator("pre.log")).to_contain_text("nuclei_01")
    page.screenshot(path=screenshots / "06-run-detail.png", full_page=True)

    page.get_by_role("link", name="Open outputs").click()
    files = page.locator("table.files")
    expect(files.get_by_role("link", name="nuclei_00_ov.png", exact=True)).to_be_visible()
    expect(files.get_by_role("link", name="nuclei_00.csv", exact=True)).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('td.thumb img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=screenshots / "07-outputs.png", full_page=True)

    files.get_by_role("link", name="nuclei_00_ov.png", exact=True).click()
    page.wait_for_function(
        "() => { const i = document.querySelector('figure.preview img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    page.screenshot(path=screenshots / "08-image-preview.png", full_page=True)

    page.get_by_role("button", name="Add property").click()
    page.locator(".prop-key").last.fill("quality")
    page.locator(".prop-value").last.fill("good nuclei")
    page.get_by_role("button", name="Save properties").click()
    expect(page.get_by_text("Properties saved")).to_be_visible()
    page.reload()
    expect(page.locator(".prop-key")).to_have_value("quality")
    expect(page.locator(".prop-value")).to_have_value("good nuclei")
    page.screenshot(path=screenshots / "09-properties-after-reload.png", full_page=True)

    page.get_by_role("button", name=re.compile("Remove property")).click()
    page.get_by_role("button", name="Save properties").click()
    expect(page.get_by_text("Properties saved")).to_be_visible()
    expect(page.locator(".prop-key")).to_have_count(0)

    page.locator("nav.crumbs a").nth(1).click()  # the run's folder in the breadcrumbs
    page.locator("table.files").get_by_role("link", name="nuclei_00.csv", exact=True).click()
    table = page.locator("table.csv")
    expect(table.locator("thead th").first).to_have_text("label")
    assert table.locator("tbody tr").count() >= 1
    page.screenshot(path=screenshots / "10-csv-preview.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="My outputs").first.click()
    expect(page.get_by_role("heading", name="My outputs")).to_be_visible()
    tied = page.locator(".folder-run").filter(has=page.get_by_role("link", name=run_id, exact=True))
    expect(tied.locator(".badge")).to_have_text("Succeeded")
    expect(tied).to_contain_text("nebraska_demo on nebraska_images")
    expect(tied.get_by_role("link", name=run_id, exact=True)).to_have_attribute(
        "href", f"#/run/nebraska_demo/{run_id}"
    )
    page.screenshot(path=screenshots / "11-narrow-outputs.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1

    page.get_by_role("link", name="My runs").first.click()
    expect(page.get_by_role("heading", name="My runs")).to_be_visible()
    mine = page.locator(f'table.runs tr[data-run-id="{run_id}"]')
    expect(mine.locator(".col-workflow")).to_have_text("nebraska_demo")
    expect(mine.locator(".col-status .badge")).to_have_text("Succeeded")
    expect(mine.locator(".col-parameters")).to_contain_text("tile_size = 32")
    link = mine.locator(".col-run a")
    box, line = (
        link.bounding_box(),
        link.evaluate("(a) => parseFloat(getComputedStyle(a).lineHeight)"),
    )
    assert box["height"] < 1.5 * line and box["x"] + box["width"] <= 390, "the run id whole"
    page.screenshot(path=screenshots / "12-narrow-my-runs.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    mine.locator(".col-folder a").click()
    expect(
        page.locator("table.files").get_by_role("link", name="nuclei_00.csv", exact=True)
    ).to_be_visible()
    assert page.problems == []


def test_expired_and_refused_tokens_are_explained(
    page: Any, api_server: ApiServer, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{api_server.url}/ui/")
    page.get_by_label("LabCAS token").fill(api_server.token("thomas", ttl=-120))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("This token has expired")
    page.screenshot(path=screenshots / "12-expired-token.png")

    page.get_by_label("LabCAS token").fill("not.a-real.token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("did not accept this token")
    assert page.evaluate("sessionStorage.getItem('labcas.token')") is None


def test_keyboard_reaches_the_form_and_runs_table(page: Any, api_server: ApiServer) -> None:
    from playwright.sync_api import expect

    sign_in(page, api_server)
    page.goto(f"{api_server.url}/ui/#/wf/nebraska_demo?ds=nebraska_images")
    expect(page.locator("form.run-form")).to_be_visible()
    focused: list[str] = []
    for _ in range(25):
        page.keyboard.press("Tab")
        focused.append(
            page.evaluate("document.activeElement.id || document.activeElement.textContent")
        )
    assert "data-selection" in focused and "param-0" in focused and "status-filter" in focused
    assert "Run" in focused


def test_an_outsider_sees_no_data_selection_under_the_stage_prefix(
    page: Any, api_server: ApiServer
) -> None:
    from playwright.sync_api import expect

    calls: list[str] = []
    page.on("request", lambda request: calls.append(request.url))
    sign_in(page, api_server, user="mallory", prefix="/dev")
    expect(page.get_by_text("There is no data selection you may use yet")).to_be_visible()
    assert f"{api_server.url}/dev/data-selections" in calls
