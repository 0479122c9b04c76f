"""Web app screens the demo stack cannot show yet (task details, logs, cancel, server-side 422,
TIFF previews, hostile text), in Chromium against a small scripted API (Playwright routes)."""

from __future__ import annotations

import io
import json
import mimetypes
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from PIL import Image

import labcas_workflow_api

WEB = Path(labcas_workflow_api.__file__).parent / "web"
ORIGIN = "http://labcas.test"
EVIL = '<img src=x onerror="window.pwned=1">'
# a token whose payload says uid=thomas and expires in 2100 (the scripted API does not verify it)
TOKEN = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1aWQ9dGhvbWFzLGRjPWVkcm4iLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl"
)


def tiff(compression: str, mode: str = "L") -> bytes:
    image = Image.new(mode, (64, 48))
    for x in range(64):
        for y in range(48):
            value = x * 4 if mode == "L" else x * 1000
            image.putpixel((x, y), value if mode != "RGB" else (x * 4, 0, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF", compression=compression)
    return buffer.getvalue()


TIFFS = {
    "raw.tif": tiff("raw"),
    "lzw.tif": tiff("tiff_lzw"),
    "deflate.tif": tiff("tiff_adobe_deflate"),
    "packbits.tif": tiff("packbits"),
    "deep.tif": tiff("raw", "I;16"),
    "rgb.tif": tiff("tiff_lzw", "RGB"),
}


PAGED = [f"f{i:04d}.csv" for i in range(1203)]


class ScriptedApi:
    def __init__(self) -> None:
        self.run_status = "running"
        self.posts: list[dict[str, Any]] = []
        self.folder_gets: list[str] = []
        self.folder_cache_control: list[str | None] = []
        self.puts: list[dict[str, Any]] = []
        self.props: dict[str, str] = {"stain": "DAPI"}
        self.etag = "etag-1"

    def answer(self, route: Any, request: Any) -> None:
        url = urlsplit(request.url)
        path = unquote(url.path)
        if path.startswith("/ui/"):
            name = path.removeprefix("/ui/") or "index.html"
            file = WEB / name
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if name.endswith(".js"):
                kind = "text/javascript"
            route.fulfill(status=200, body=file.read_bytes(), content_type=kind)
            return
        if path.startswith("/s3/"):
            name = path.removeprefix("/s3/")
            if name in TIFFS:
                route.fulfill(status=200, body=TIFFS[name], content_type="image/tiff")
            else:
                route.fulfill(status=200, body=b"a,b\n1,2\n", content_type="text/csv")
            return
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            self.problem(route, 401, "token expired")
            return
        method = request.method
        if path == "/data-selections":
            self.json(route, {"data_selections": [{"id": "imgs", "description": EVIL}]})
        elif path == "/data-selections/workflows":
            self.json(route, {"workflows": [{"id": "demo", "description": EVIL}]})
        elif path == "/workflows/demo":
            self.json(
                route,
                {
                    "id": "demo",
                    "description": EVIL,
                    "parameters": {
                        "tile_size": {
                            "default": 64,
                            "description": EVIL,
                            "required": False,
                            "schema": {"type": "integer", "minimum": 8},
                        },
                        "smooth": {
                            "default": False,
                            "description": None,
                            "required": False,
                            "schema": {"type": "boolean"},
                        },
                        "labels": {
                            "default": ["a"],
                            "description": None,
                            "required": False,
                            "schema": {"type": "array"},
                        },
                    },
                    "data_selections": ["imgs"],
                },
            )
        elif path == "/workflows/demo/runs" and method == "POST":
            body = json.loads(request.post_data)
            self.posts.append(body)
            if body["params"]["tile_size"] < 100:
                detail = "tile_size: 50 is less than the minimum of 100"
                self.problem(route, 422, detail, parameter="tile_size")
            else:
                self.json(route, {"run_id": "r2", "workflow_id": "demo", "status": "queued"}, 201)
        elif path == "/workflows/demo/runs":
            self.json(route, {"runs": [self.run()]})
        elif path == "/workflows/demo/runs/r1":
            self.json(
                route, {**self.run(), "tasks": self.tasks(), "progress": {"done": 1, "total": 2}}
            )
        elif path == "/workflows/demo/runs/r1/tasks/segment/logs":
            assert parse_qs(url.query) == {"try": ["1"]}
            route.fulfill(status=200, body=f"segmenting\n{EVIL}\n", content_type="text/plain")
        elif path == "/workflows/demo/runs/r1/cancel" and method == "POST":
            self.run_status = "cancelled"
            self.json(route, self.run())
        elif path.rstrip("/") == "/output-data/paged" and method == "GET":
            self.folder_gets.append(url.query)
            self.folder_cache_control.append(request.all_headers().get("cache-control"))
            self.json(route, self.paged(url.query))
        elif path == "/output-data/paged" and method == "PUT":
            body = json.loads(request.post_data)
            self.puts.append(body)
            entry = body["files"]["f1100.csv"]
            if entry.get("etag", self.etag) != self.etag:
                self.problem(route, 412, "the properties of f1100.csv changed since they were read")
            else:
                self.props, self.etag = entry["properties"], f"etag-{len(self.puts) + 1}"
                self.json(route, {"updated": ["f1100.csv"]})
        elif path == "/output-data/":
            files = {
                name: {"href": f"{ORIGIN}/s3/{name}", "size": len(data), "properties": {}}
                for name, data in TIFFS.items()
            }
            self.json(route, {"prefix": "thomas/", "folders": {}, "files": files})
        else:
            self.problem(route, 404, f"no such resource: {path}")

    def paged(self, query: str) -> dict[str, Any]:
        """A folder of 1,203 files, 500 a page (what the service does without ``limit``)."""
        start = int(parse_qs(query).get("cursor", ["0"])[0])
        names = PAGED[start : start + 500]
        files = {
            name: {
                "href": f"{ORIGIN}/s3/{name}",
                "size": 1536,
                "last_modified": "2024-05-01T12:00:00+00:00",
                "properties": self.props if name == "f1100.csv" else {},
                "properties_etag": self.etag if name == "f1100.csv" else None,
            }
            for name in names
        }
        body: dict[str, Any] = {"prefix": "paged/", "folders": {}, "files": files}
        if start + 500 < len(PAGED):
            body["next"] = f"{ORIGIN}/output-data/paged/?cursor={start + 500}"
        return body

    def run(self) -> dict[str, Any]:
        return {
            "run_id": "r1",
            "workflow_id": "demo",
            "status": self.run_status,
            "start_time": "2024-05-01T12:00:00Z",
            "end_time": None,
            "output_url": f"{ORIGIN}/output-data/",
            "conf": {"in_data_selection": "imgs", "tile_size": 64},
        }

    def tasks(self) -> list[dict[str, Any]]:
        return [
            {
                "task_id": "fetch",
                "state": "success",
                "try_number": 1,
                "duration": 2.0,
                "start_time": "2024-05-01T12:00:00Z",
                "end_time": "2024-05-01T12:00:02Z",
            },
            {
                "task_id": "segment",
                "state": self.run_status,
                "try_number": 1,
                "start_time": "2024-05-01T12:00:02Z",
            },
        ]

    @staticmethod
    def json(route: Any, body: Any, status: int = 200) -> None:
        route.fulfill(status=status, body=json.dumps(body), content_type="application/json")

    @staticmethod
    def problem(route: Any, status: int, detail: str, **extra: str) -> None:
        body = {"type": "about:blank", "title": "Error", "status": status, "detail": detail}
        body.update(extra)
        route.fulfill(status=status, body=json.dumps(body), content_type="application/problem+json")


S = TypeVar("S", bound=ScriptedApi)


def signed_in(page: Any, scripted: S) -> S:
    """The web app open on ``ORIGIN`` with ``scripted`` answering every request, signed in."""
    page.route(f"{ORIGIN}/**", scripted.answer)
    page.goto(f"{ORIGIN}/ui/index.html")
    page.get_by_label("LabCAS token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#signed-in-user").wait_for()
    return scripted


@pytest.fixture
def api(page: Any) -> ScriptedApi:
    return signed_in(page, ScriptedApi())


def test_text_from_the_api_is_never_markup(page: Any, api: ScriptedApi) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_text(EVIL)).to_be_visible()
    page.goto(f"{ORIGIN}/ui/index.html#/wf/demo?ds=imgs")
    expect(page.locator("p.lead")).to_have_text(EVIL)
    expect(page.locator(".help").filter(has_text=EVIL)).to_be_visible()
    assert page.evaluate("window.pwned") is None
    assert page.locator("main img").count() == 0


def test_server_side_422_is_shown_at_the_field(page: Any, api: ScriptedApi) -> None:
    from playwright.sync_api import expect

    page.goto(f"{ORIGIN}/ui/index.html#/wf/demo?ds=imgs")
    form = page.locator("form.run-form")
    form.get_by_label("tile_size").fill("50")
    form.get_by_label("smooth").check()
    form.get_by_label("labels").fill("x, y")
    form.get_by_role("button", name="Run", exact=True).click()
    error = form.locator(".field.invalid .field-error")
    expect(error).to_have_text("tile_size: 50 is less than the minimum of 100")
    assert api.posts[-1] == {
        "in_data_selection": "imgs",
        "params": {"tile_size": 50, "smooth": True, "labels": ["x", "y"]},
    }
    form.get_by_label("tile_size").fill("128")
    form.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#new-run-link")).to_have_text("r2")


def test_run_detail_shows_tasks_logs_and_cancels_after_confirmation(
    page: Any, api: ScriptedApi, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{ORIGIN}/ui/index.html#/run/demo/r1")
    expect(page.get_by_text("1 of 2 tasks done")).to_be_visible()
    expect(page.locator("table").get_by_text("segment")).to_be_visible()
    page.get_by_role("button", name="View log").last.click()
    expect(page.locator("pre.log")).to_contain_text(EVIL)
    page.screenshot(path=screenshots / "20-run-tasks-and-log.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Cancel run").click()
    assert api.run_status == "running"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel run").click()
    expect(page.get_by_text("The run was cancelled.")).to_be_visible()
    expect(page.locator("dl.facts .badge").first).to_have_text("Cancelled")
    expect(page.locator("#run-progress")).to_contain_text("cancelled after 1 of 2 tasks")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)


@pytest.mark.parametrize("name", sorted(TIFFS))
def test_tiff_previews(page: Any, api: ScriptedApi, name: str, screenshots: Path) -> None:
    page.goto(f"{ORIGIN}/ui/index.html#/outputs?file={name}")
    canvas = page.locator("figure.preview canvas")
    canvas.wait_for()
    pixels = page.evaluate(
        """() => { const c = document.querySelector('figure.preview canvas');
        const d = c.getContext('2d').getImageData(0, 10, 64, 1).data;
        return [c.width, c.height, d[0], d[4 * 32], d[4 * 63], d[4 * 32 + 2]]; }"""
    )
    width, height, left, middle, right, blue = pixels
    assert (width, height) == (64, 48)
    assert left == 0 and right in (252, 255) and 120 <= middle <= 132
    if name == "rgb.tif":
        assert blue == 255
    if name == "lzw.tif":
        page.screenshot(path=screenshots / "21-tiff-preview.png", full_page=True)


def test_a_refused_token_leads_back_to_sign_in(page: Any, api: ScriptedApi) -> None:
    from playwright.sync_api import expect

    page.evaluate("sessionStorage.setItem('labcas.token', 'x.eyJzdWIiOiJ0aG9tYXMifQ.y')")
    page.evaluate("location.hash = '#/outputs'")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("did not accept your token")


def test_an_unknown_api_in_the_query_string_is_ignored_with_a_notice(page: Any) -> None:
    from playwright.sync_api import expect

    elsewhere: list[str] = []
    page.route(
        "http://api.elsewhere.test/**",
        lambda route: (elsewhere.append(route.request.url), route.abort()),
    )
    page.route(f"{ORIGIN}/**", ScriptedApi().answer)
    page.goto(f"{ORIGIN}/ui/index.html?api=http://api.elsewhere.test/dev")
    expect(page.locator("#ignored-api")).to_contain_text("http://api.elsewhere.test/dev")
    expect(page.locator("#api-url")).to_have_text(ORIGIN)
    page.get_by_label("LabCAS token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(EVIL)).to_be_visible()
    assert elsewhere == []
    assert page.evaluate("Object.keys(sessionStorage)") == ["labcas.token"]


def test_a_configured_api_is_chosen_and_next_links_never_lead_the_token_away(page: Any) -> None:
    """?api= picks a base listed in config.js; a `next` link naming another origin is followed
    on the chosen base (its cursor only); a path resolving outside the base is not called;
    presigned links are fetched without the token."""
    from playwright.sync_api import expect

    other = "http://api.elsewhere.test/dev"
    calls: list[tuple[str, str | None]] = []
    elsewhere: list[str] = []

    def other_api(route: Any, request: Any) -> None:
        calls.append((request.url, request.headers.get("authorization")))
        url = urlsplit(request.url)
        if url.path == "/s3/raw.tif":
            route.fulfill(status=200, body=TIFFS["raw.tif"], content_type="image/tiff")
        elif url.path == "/dev/data-selections":
            ScriptedApi.json(route, {"data_selections": [{"id": "far", "description": ""}]})
        elif url.path == "/dev/output-data/" and "cursor=p2" in url.query:
            file = {"href": "http://api.elsewhere.test/s3/raw.tif", "size": 9, "properties": {}}
            ScriptedApi.json(route, {"prefix": "", "folders": {}, "files": {"raw.tif": file}})
        elif url.path == "/dev/output-data/":
            answer = {"prefix": "", "folders": {"a/": {"href": "x"}}, "files": {}}
            answer["next"] = "http://evil.test/output-data/?cursor=p2&limit=1"
            ScriptedApi.json(route, answer)
        else:
            ScriptedApi.problem(route, 404, url.path)

    page.route(f"{ORIGIN}/**", ScriptedApi().answer)
    page.route(
        f"{ORIGIN}/ui/config.js",
        lambda route: route.fulfill(
            body=f'window.LABCAS_CONFIG = {{apiUrl: "", apiUrls: ["{other}/"]}};',
            content_type="text/javascript",
        ),
    )
    page.route("http://api.elsewhere.test/**", other_api)
    page.route(
        "http://evil.test/**", lambda route: (elsewhere.append(route.request.url), route.abort())
    )
    page.goto(f"{ORIGIN}/ui/index.html?api={other}")
    expect(page.locator("#api-url")).to_have_value(other)
    page.get_by_label("LabCAS token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("far", exact=True)).to_be_visible()
    page.evaluate("location.hash = '#/outputs'")
    page.get_by_role("button", name="Load more").click()  # the page its next link names
    expect(
        page.locator("table.files").get_by_role("link", name="raw.tif", exact=True)
    ).to_be_visible()
    page.evaluate("location.hash = '#/outputs?file=raw.tif'")
    expect(page.locator("figure.preview canvas")).to_be_visible()
    page.evaluate("location.hash = '#/outputs/../../steal'")  # would resolve outside /dev
    expect(page.get_by_role("alert")).to_contain_text(f"sends your token only to {other}")
    assert elsewhere == []
    assert [u for u, _ in calls if "/steal" in u] == []
    api_calls = [(u, a) for u, a in calls if "/s3/" not in u]
    assert f"{other}/output-data/?cursor=p2&limit=1" in [u for u, _ in api_calls]
    assert all(a == f"Bearer {TOKEN}" for _, a in api_calls)
    assert [a for u, a in calls if "/s3/" in u] == [None]


def test_the_token_never_follows_a_redirect(page: Any, api: ScriptedApi) -> None:
    from playwright.sync_api import expect

    evil: list[str] = []
    page.on(
        "request", lambda r: evil.append(r.url) if r.url.startswith("http://evil.test") else None
    )
    page.route(
        f"{ORIGIN}/workflows/demo",
        lambda route: route.fulfill(
            status=307, headers={"location": "http://evil.test/workflows/demo"}
        ),
    )
    page.goto(f"{ORIGIN}/ui/index.html#/wf/demo?ds=imgs")
    expect(page.get_by_role("alert")).to_contain_text("cannot be reached")
    assert evil == []


def test_a_large_folder_is_shown_page_by_page(
    page: Any, api: ScriptedApi, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{ORIGIN}/ui/index.html#/outputs/paged")
    rows = page.locator("table.files tbody tr")
    expect(rows).to_have_count(500)
    expect(page.get_by_text("0 folders, 500 files shown; this folder has more.")).to_be_visible()
    assert api.folder_gets == [""], "only the first page is asked for"
    expect(rows.first.locator("td.num")).to_have_text("1.5 KiB")
    page.get_by_role("button", name="Load more").scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "22-outputs-paged.png")
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(1000)
    expect(page.get_by_role("link", name="f0500.csv", exact=True)).to_be_focused()
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(1203)
    expect(page.get_by_text("0 folders, 1203 files.")).to_be_visible()
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    assert api.folder_gets == ["", "cursor=500", "cursor=1000"]


def test_a_file_on_a_later_page_is_found_and_saved_over_its_listed_version(
    page: Any, api: ScriptedApi
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{ORIGIN}/ui/index.html#/outputs/paged?file=f1100.csv")
    expect(page.get_by_label("Property value")).to_have_value("DAPI")
    assert api.folder_gets == ["", "cursor=500", "cursor=1000"]
    page.get_by_label("Property value").fill("Hoechst")
    page.get_by_role("button", name="Save properties").click()
    expect(page.get_by_text("Properties saved.")).to_be_visible()
    assert api.puts[-1] == {
        "files": {"f1100.csv": {"properties": {"stain": "Hoechst"}, "etag": "etag-1"}}
    }
    expect(page.get_by_label("Property value")).to_have_value("Hoechst")
    # read back afresh, past the listing the service may hold (LABCAS_LISTING_TTL)
    assert len(api.folder_gets) > 3
    assert set(api.folder_cache_control) == {"no-cache"}


def test_saving_over_properties_someone_else_changed_is_refused(
    page: Any, api: ScriptedApi, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{ORIGIN}/ui/index.html#/outputs/paged?file=f1100.csv")
    expect(page.get_by_label("Property value")).to_have_value("DAPI")
    api.props, api.etag = {"stain": "theirs"}, "etag-theirs"  # someone else saves meanwhile
    page.get_by_label("Property value").fill("mine")
    page.get_by_role("button", name="Save properties").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Someone else changed these properties")
    assert api.props == {"stain": "theirs"}
    page.screenshot(path=screenshots / "23-properties-changed-meanwhile.png")
    page.get_by_role("button", name="Reload the properties").click()
    expect(page.get_by_label("Property value")).to_have_value("theirs")
