"""Sphinx configuration of the LabCAS Workflow API documentation (builds offline)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT / "src"))

from sphinx.application import Sphinx  # noqa: E402

from labcas_workflow_api import __version__  # noqa: E402

project = "LabCAS Workflow API"
author = "EDRN LabCAS"
copyright = "EDRN LabCAS"
version = release = __version__

extensions = [
    "myst_parser",
    "labcas_access",
    "labcas_cli",
    "labcas_mermaid",
    "labcas_openapi",
    "labcas_settings",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "node_modules", "README.md", "Thumbs.db", ".DS_Store"]
# docs/deploy-aws.md (the AWS deployment guide) is written alongside the Terraform code; until
# it exists, a placeholder page takes its place in the table of contents (operations/index).
if (DOCS / "deploy-aws.md").is_file():
    exclude_patterns.append("deploy-aws-placeholder.rst")

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Nothing may be fetched: no intersphinx, no remote images, no theme assets from a CDN.
html_theme = "furo"
html_title = f"LabCAS Workflow API {release}"
html_static_path = ["_static"]
html_css_files = ["labcas.css"]
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None
html_theme_options = {
    "navigation_with_keys": True,
}

highlight_language = "text"
nitpicky = False


def _audit_page_in_toc(app: Sphinx, docname: str, source: list[str]) -> None:
    """List docs/audit.md (the audit trail guide) after the monitoring page once it exists."""
    if docname == "operations/index" and (DOCS / "audit.md").is_file():
        source[0] = source[0].replace("   monitoring\n", "   monitoring\n   /audit\n", 1)


def _reread_operations_index(app: Sphinx, env: object, *changes: object) -> list[str]:
    """Read operations/index again on every build, so that an incremental build sees
    docs/audit.md appear (or go) instead of calling it a page in no table of contents."""
    return ["operations/index"]


def setup(app: Sphinx) -> None:
    app.connect("source-read", _audit_page_in_toc)
    app.connect("env-get-outdated", _reread_operations_index)
