"""One rule for sizes shown to people: binary units, one decimal (domain/sizes.py), in the HTML
listing, the command line and the web app (dom.js ``humanSize``, run with node)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

import labcas_workflow_api
from labcas_workflow_api import wire
from labcas_workflow_api.client import render
from labcas_workflow_api.domain.sizes import human_size
from labcas_workflow_api.http.html import render_listing

CASES = [
    (0, "0 B"),
    (1, "1 B"),
    (1023, "1023 B"),
    (1024, "1.0 KiB"),
    (1536, "1.5 KiB"),
    (10 * 1024 - 1, "10.0 KiB"),
    (1024**2 - 1, "1.0 MiB"),  # 1023.999 KiB rounds to 1024.0: the next unit
    (5 * 1024**2 + 300 * 1024, "5.3 MiB"),
    (3 * 1024**3, "3.0 GiB"),
    (2 * 1024**4, "2.0 TiB"),
    (5000 * 1024**4, "5000.0 TiB"),
]
WEB = Path(labcas_workflow_api.__file__).parent / "web"


@pytest.mark.parametrize(("n", "text"), CASES)
def test_the_rule(n: int, text: str) -> None:
    assert human_size(n) == text


def _listing(sizes: list[int]) -> wire.Folder:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    files = {
        f"f{i}": wire.FileEntry(
            href="https://s3.example/x",
            size=n,
            last_modified=when,
            properties={},
            properties_etag=None,
        )
        for i, n in enumerate(sizes)
    }
    return wire.Folder(prefix="run/", folders={}, files=files)


def test_the_html_listing_follows_it() -> None:
    page = render_listing(_listing([n for n, _ in CASES]), None)
    for _, text in CASES:
        assert f"<td>{text}</td>" in page


def test_the_command_line_follows_it() -> None:
    console = Console(width=200, record=True)
    console.print(render.outputs(_listing([n for n, _ in CASES]), "run"))
    table = console.export_text()
    for _, text in CASES:
        assert f" {text} " in table


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_web_app_follows_it() -> None:
    script = (
        f"const {{ humanSize }} = await import({json.dumps((WEB / 'dom.js').as_uri())});"
        f"console.log(JSON.stringify({json.dumps([n for n, _ in CASES])}.map(humanSize)));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert json.loads(out.stdout) == [text for _, text in CASES]
