"""Every answer of the real server carries its security headers (docs/security.rst, "The web
app"): the web app's strict policy under /ui/, a policy allowing nothing elsewhere, nosniff
everywhere, whoever asks and whatever the outcome."""

from __future__ import annotations

import re

import httpx

from labcas_workflow_api.http.security_headers import API_POLICY
from tests.security.stack import Api

UI_PATHS = ["/ui/", "/ui/index.html", "/ui/config.js", "/dev/ui/app.js", "/ui/missing.js"]


def headers_problems(answer: httpx.Response, policy: str | None) -> list[str]:
    found = []
    where = f"{answer.request.method} {answer.request.url.path} -> {answer.status_code}"
    if answer.headers.get("x-content-type-options") != "nosniff":
        found.append(f"{where}: no nosniff")
    if answer.headers.get("referrer-policy") != "no-referrer":
        found.append(f"{where}: no Referrer-Policy")
    csp = answer.headers.get("content-security-policy", "")
    if policy is not None and csp != policy:
        found.append(f"{where}: policy {csp!r}")
    if policy is None and "script-src 'self'" not in csp:
        found.append(f"{where}: not the web app's policy: {csp!r}")
    return found


def test_every_route_answers_with_the_headers_authenticated_or_not(api: Api) -> None:
    problems: list[str] = []
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for method, template in api.routes():
            path = re.sub(r"\{[^}]+\}", "nothing", template)
            for headers in ({}, api.headers("nobody"), {"Authorization": "Bearer x.y.z"}):
                answer = http.request(method, path, headers=headers)
                ui = path.startswith(("/ui/", "/dev/ui/"))
                problems += headers_problems(answer, None if ui else API_POLICY)
        for path in ["/data-selections", "/dev/workflows", "/output-data/"]:
            preflight = http.options(
                path,
                headers={"Origin": "http://127.0.0.1", "Access-Control-Request-Method": "GET"},
            )
            problems += headers_problems(preflight, API_POLICY)
        for path in UI_PATHS:
            problems += headers_problems(http.get(path), None)
    assert problems == []
