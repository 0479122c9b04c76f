"""No part of a token reaches the server's log or an answer: ``labcas-workflow-api serve`` on
the real stack is sent accepted, expired, forged and malformed tokens (in the header, and one
in a query string), then its whole log (stderr and stdout: access lines, audit records,
warnings) and every answer body are searched for each part of each token."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.security.stack import SECRET, Stack, serve_process
from tests.security.tokens import claims, hs

pytestmark = pytest.mark.integration


def test_tokens_are_never_logged_nor_echoed(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    now = int(time.time())
    tokens = {
        "accepted": hs(SECRET, claims(sub="eve")),
        "expired": hs(SECRET, claims(sub="eve", exp=now - 3600)),
        "forged": hs("not-the-secret-" * 4, claims(sub="eve")),
        "bad subject": hs(SECRET, claims(sub="eve smith")),
        "malformed": "eyJub3QiOiJhIHRva2VuIn0.eyJzdWIiOiJldmUifQ.c2lnbmF0dXJlLWJ5dGVz",
    }
    bodies = []
    with (
        serve_process(stack, config_path, tmp_path) as served,
        httpx.Client(base_url=served.url, timeout=30) as http,
    ):
        for token in tokens.values():
            headers = {"Authorization": f"Bearer {token}"}
            for answer in (
                http.get("/workflows", headers=headers),
                http.get("/workflows/alpha/runs/labcas__eve__x", headers=headers),
                http.post("/workflows/alpha/runs", headers=headers, json={"x": 1}),
                http.get("/output-data/nowhere/", headers=headers),
                http.get("/workflows", params={"token": token}),
            ):
                assert answer.status_code < 500, answer.text
                bodies.append(answer.text)
        time.sleep(0.5)
        log = served.log.read_text(errors="replace")
    assert "labcas_workflow_api.access" in log, "the log was written"
    for name, token in tokens.items():
        for part in token.split("."):
            assert part not in log, f"part of the {name} token is in the server log"
            assert not any(part in body for body in bodies), f"the {name} token is echoed"
