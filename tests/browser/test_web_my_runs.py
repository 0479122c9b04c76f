"""The web app for a scientist's day, in Chromium against a scripted API (Playwright routes):
"My runs" across workflows, the top outputs folder with each folder's run, errors that offer
a way forward, and the phone (390 x 844: cards, no cut columns, run ids whole)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.browser.test_web_screens import ORIGIN, TOKEN, ScriptedApi, signed_in

PHONE = {"width": 390, "height": 844}
KEYED = "labcas__thomas__k4b6e0c2a9f1d3b5e7a8c0d2e"  # 41 characters, a web app start
STAMPED = "labcas__thomas__20261128T101010123456"


def run(run_id: str, workflow: str, status: str, folder: str, **conf: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "workflow_id": workflow,
        "status": status,
        "start_time": "2026-11-28T10:10:11+00:00",
        "end_time": None if status == "running" else "2026-11-28T10:11:02+00:00",
        "output_url": f"{ORIGIN}/output-data/{folder}/",
        "output_folder": f"{folder}/",
        "conf": {"in_data_selection": "imgs", **conf},
    }


RUNS = [
    run(KEYED, "demo", "cancelled", "20261128T111111000000", tile_size=64, method="li"),
    run(STAMPED, "sleep", "running", "20261128T101010123456", seconds=30),
    run("labcas__thomas__20261127T090000000000", "demo", "success", "20261127T090000000000"),
]


class DayApi(ScriptedApi):
    """The scripted API with GET /runs, the top outputs folder and "did you mean" answers."""

    def __init__(self) -> None:
        super().__init__()
        self.run_queries: list[dict[str, list[str]]] = []
        self.fail_runs = 0  # answer GET /runs with a 503 this many times

    def answer(self, route: Any, request: Any) -> None:
        url = urlsplit(request.url)
        path = unquote(url.path)
        authorized = request.headers.get("authorization") == f"Bearer {TOKEN}"
        if not authorized or path.startswith(("/ui/", "/s3/")):
            super().answer(route, request)
        elif path == "/runs":
            query = parse_qs(url.query)
            self.run_queries.append(query)
            if self.fail_runs:
                self.fail_runs -= 1
                self.problem(route, 503, "the workflow engine is unavailable")
                return
            runs = [
                r
                for r in RUNS
                if r["status"] in query.get("status", [r["status"]])
                and r["workflow_id"] in query.get("workflow", [r["workflow_id"]])
            ]
            self.json(route, {"runs": runs})
        elif path == "/workflows":
            self.json(route, {"workflows": [{"id": "demo"}, {"id": "sleep"}]})
        elif path == "/workflows/dem":
            self.problem(route, 404, "workflow 'dem' not found; did you mean 'demo'?")
        elif path == "/data-selections/workflows" and "data_id=img" in url.query:
            self.problem(route, 404, "data selection 'img' not found; did you mean 'imgs'?")
        elif path == "/output-data/":
            self.json(route, self.top())
        else:
            super().answer(route, request)

    @staticmethod
    def top() -> dict[str, Any]:
        folders = {}
        for r in RUNS:
            folder = r["output_folder"]
            folders[folder] = {
                "href": f"{ORIGIN}/output-data/{folder}",
                "run": {
                    **{k: r[k] for k in ("run_id", "workflow_id", "status", "start_time")},
                    "end_time": r["end_time"],
                    "conf": r["conf"],
                    "href": f"{ORIGIN}/workflows/{r['workflow_id']}/runs/{r['run_id']}",
                    "partial": r["status"] in ("cancelled", "failed"),
                },
            }
        folders["imported/"] = {"href": f"{ORIGIN}/output-data/imported/"}
        props = {"stain": "DAPI", "reviewed_by": "thomas"}
        many = {f"key_{i}": "a longer value that does not fit" for i in range(5)}
        files = {
            name: {
                "href": f"{ORIGIN}/s3/{name}",
                "size": 2048,
                "last_modified": "2026-11-28T10:12:00+00:00",
                "properties": properties,
                "properties_etag": "e" if properties else None,
            }
            for name, properties in (("notes.csv", props), ("summary.csv", many))
        }
        return {"prefix": "", "folders": folders, "files": files}


@pytest.fixture
def day(page: Any) -> DayApi:
    return signed_in(page, DayApi())


def test_my_runs_lists_every_workflow_with_parameters_and_filters(
    page: Any, day: DayApi, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="My runs").click()
    expect(page.get_by_role("heading", name="My runs")).to_be_visible()
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(3)
    first = rows.first
    expect(first.locator(".col-workflow")).to_have_text("demo")
    expect(first.locator(".col-status .badge")).to_have_text("Cancelled")
    expect(first.locator(".col-parameters")).to_contain_text("tile_size = 64")
    expect(first.locator(".col-folder a")).to_have_attribute(
        "href", "#/outputs/20261128T111111000000"
    )
    expect(page.get_by_role("link", name="My runs")).to_have_attribute("aria-current", "page")
    page.screenshot(path=screenshots / "30-my-runs.png", full_page=True)

    page.locator("#status-filter").select_option("cancelled")
    expect(rows).to_have_count(1)
    assert day.run_queries[-1] == {"status": ["cancelled"]}
    assert page.evaluate("location.hash") == "#/runs?status=cancelled"
    page.locator("#workflow-filter").select_option("sleep")
    expect(page.get_by_text("No runs match these filters.")).to_be_visible()
    page.locator("#status-filter").select_option("")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".col-run a")).to_have_text(STAMPED)
    expect(page.get_by_text("Updating automatically")).to_be_visible()

    rows.first.locator(".col-run a").click()  # a run the scripted API does not know: a 404
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not found")
    expect(alert.get_by_role("button", name="Try again")).to_have_count(0)
    alert.get_by_role("link", name="Go to my runs").click()
    expect(page.get_by_role("heading", name="My runs")).to_be_visible()


def test_the_top_folder_shows_each_folders_run_newest_first(
    page: Any, day: DayApi, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="My outputs").click()
    rows = page.locator("table.files tbody tr")
    expect(rows).to_have_count(6)
    expect(rows.nth(0).locator("a.folder-link")).to_have_text("20261128T111111000000/")
    cancelled = rows.nth(0).locator(".folder-run")
    expect(cancelled.locator(".badge")).to_have_text("Cancelled")
    expect(cancelled).to_contain_text("partial outputs")
    expect(cancelled).to_contain_text("demo on imgs")
    expect(cancelled).to_contain_text("tile_size = 64, method = li")
    expect(cancelled.get_by_role("link", name=KEYED)).to_have_attribute(
        "href", f"#/run/demo/{KEYED}"
    )
    expect(rows.nth(3).locator(".folder-run")).to_have_count(0)  # imported/: no run known
    expect(rows.nth(4).locator("ul.prop-pairs li")).to_have_text(
        ["stain = DAPI", "reviewed_by = thomas"]
    )
    expect(rows.nth(5).locator(".props-cell")).to_have_text("5 properties")
    page.screenshot(path=screenshots / "31-outputs-top-with-runs.png", full_page=True)


def test_a_typo_offers_the_suggestion_and_a_way_back_not_a_retry(
    page: Any, day: DayApi, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    page.evaluate("location.hash = '#/wf/dem?ds=imgs'")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("workflow 'dem' not found; did you mean 'demo'?")
    expect(alert.get_by_role("button", name="Try again")).to_have_count(0)
    expect(alert.get_by_role("link", name="Did you mean demo?")).to_have_attribute(
        "href", "#/wf/demo?ds=imgs"
    )
    expect(alert.get_by_role("link", name="Go to the workflows for imgs")).to_be_visible()
    page.screenshot(path=screenshots / "32-workflow-typo.png")
    alert.get_by_role("link", name="Did you mean demo?").click()
    expect(page.locator("form.run-form")).to_be_visible()

    page.evaluate("location.hash = '#/ds/img'")
    alert = page.get_by_role("alert")
    expect(alert.get_by_role("link", name="Did you mean imgs?")).to_have_attribute(
        "href", "#/ds/imgs"
    )
    expect(alert.get_by_role("link", name="Go to the data selections")).to_be_visible()


def test_a_failing_service_is_worth_trying_again(page: Any, day: DayApi) -> None:
    from playwright.sync_api import expect

    day.fail_runs = 1
    page.evaluate("location.hash = '#/runs'")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("is unavailable")
    expect(alert.get_by_role("link", name="Show all my runs")).to_have_count(0)
    alert.get_by_role("button", name="Try again").click()
    expect(page.locator("table.runs tbody tr")).to_have_count(3)


class TestPhone:
    @pytest.fixture(autouse=True)
    def _phone(self, page: Any) -> None:
        page.set_viewport_size(PHONE)

    @staticmethod
    def fits(page: Any) -> None:
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        overflowing = page.evaluate(
            "() => [...document.querySelectorAll('.scroller')]"
            ".filter(s => s.scrollWidth > s.clientWidth + 1).length"
        )
        assert overflowing == 0

    def test_runs_are_cards_with_whole_run_ids(
        self, page: Any, day: DayApi, screenshots: Path
    ) -> None:
        from playwright.sync_api import expect

        page.evaluate("location.hash = '#/runs'")
        links = page.locator("table.runs .col-run a")
        expect(links).to_have_count(3)
        for i in range(3):
            box = links.nth(i).bounding_box()
            line = page.evaluate(
                "(a) => parseFloat(getComputedStyle(a).lineHeight) || 20",
                links.nth(i).element_handle(),
            )
            assert box["height"] < 1.5 * line, "the run id is on one line"
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        labels = page.locator("table.runs tbody tr").first.locator("td[data-label]")
        assert "Status" in labels.evaluate_all("(tds) => tds.map(td => td.dataset.label)")
        self.fits(page)
        page.screenshot(path=screenshots / "33-phone-my-runs.png", full_page=True)

    def test_the_workflow_runs_table_and_run_page_fit(
        self, page: Any, day: DayApi, screenshots: Path
    ) -> None:
        from playwright.sync_api import expect

        page.evaluate("location.hash = '#/wf/demo?ds=imgs'")
        expect(page.locator("table.runs tbody tr")).to_have_count(1)
        self.fits(page)
        page.screenshot(path=screenshots / "34-phone-workflow-runs.png", full_page=True)
        page.evaluate("location.hash = '#/run/demo/r1'")
        expect(page.locator("#run-progress")).to_contain_text("1 of 2 tasks done")
        self.fits(page)

    def test_the_folder_list_shows_values_that_fit(
        self, page: Any, day: DayApi, screenshots: Path
    ) -> None:
        from playwright.sync_api import expect

        page.evaluate("location.hash = '#/outputs'")
        pairs = page.locator("ul.prop-pairs li")
        expect(pairs).to_have_text(["stain = DAPI", "reviewed_by = thomas"])
        expect(pairs.first).to_be_visible()
        self.fits(page)
        page.screenshot(path=screenshots / "35-phone-outputs-top.png", full_page=True)
