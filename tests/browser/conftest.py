"""Browser fixtures: Debian's chromium driven by Playwright, against the real local stack.

The stack fixtures (``api_server`` over Airflow 3 and SeaweedFS) come from tests/conftest.py.
Without chromium the browser tests are skipped, except under CI (``CI`` set) where that fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    missing = None
    try:
        from playwright import sync_api as playwright_api
    except ImportError:
        missing = "playwright is not installed (pip install -e '.[dev]')"
    if missing is None and not CHROMIUM.exists():
        missing = "Debian's chromium is not installed (apt-get install chromium)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run: {missing}")
        pytest.skip(missing)
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


class PageProblems(list[str]):
    """Console errors and uncaught exceptions of a page (resource 404s excepted)."""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    problems = PageProblems()
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    page.problems = problems
    try:
        yield page
    finally:
        context.close()
