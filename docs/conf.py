"""Sphinx configuration of the LabCAS Workflow API documentation (builds offline)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT / "src"))

from labcas_workflow_api import __version__  # noqa: E402

project = "LabCAS Workflow API"
author = "EDRN LabCAS"
copyright = "EDRN LabCAS"
version = release = __version__

extensions = [
    "myst_parser",
    "labcas_access",
    "labcas_cli",
    "labcas_explorer",
    "labcas_mermaid",
    "labcas_openapi",
    "labcas_settings",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "node_modules", "README.md", "Thumbs.db", ".DS_Store"]

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
