"""Build-time JavaScript of the site, from the npm registry, never from a CDN at view time.

The packages are pinned in ``docs/package.json`` and ``docs/package-lock.json``. When
``docs/node_modules`` lacks one of them, or holds another version than the lockfile, the
build runs ``npm ci`` once (the npm registry is the only network it needs, and only then;
install scripts are not run). Extensions then copy the files they need into ``_static/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

log = logging.getLogger(__name__)


def _locked_version(docs: Path, package: str) -> str:
    lock = json.loads((docs / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{package}"]["version"])


def _installed_version(docs: Path, package: str) -> str | None:
    manifest = docs / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text()).get("version"))


def package_file(docs: Path, package: str, relative: str) -> Path:
    """``docs/node_modules/<package>/<relative>``, after ``npm ci`` when it is missing or its
    package is not the locked version."""
    path = docs / "node_modules" / package / relative
    wanted = _locked_version(docs, package)
    if path.is_file() and _installed_version(docs, package) == wanted:
        return path
    npm = shutil.which("npm")
    if npm is None:
        raise ExtensionError(
            f"{package} {wanted} is not installed and npm is not on PATH: install "
            "Node.js/npm, then build again (or run `npm ci` in docs/)"
        )
    log.info(f"installing {package} {wanted} with npm ci (docs/node_modules)")
    command = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
    env = {**os.environ, "SCARF_ANALYTICS": "false"}  # swagger-ui-dist's install telemetry
    try:
        subprocess.run(command, cwd=docs, check=True, timeout=300, env=env)  # noqa: S603
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise ExtensionError(f"`npm ci` in {docs} failed: {exc}") from None
    if not path.is_file():
        raise ExtensionError(f"`npm ci` did not install {path}")
    return path
