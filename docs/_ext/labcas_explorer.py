"""An interactive API reference: Swagger UI over ``docs/openapi.yml``, with no network.

``.. openapi-explorer:: openapi.yml`` embeds the spec in the page as JSON (API Gateway's
``x-amazon-apigateway-*`` extensions left out: they are deployment plumbing) and loads
Swagger UI (the ``swagger-ui-dist`` npm package, installed at build time by ``labcas_npm``)
from the site's own ``_static/``, only on that page. The validator badge, which would call
an outside service, is off.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from labcas_npm import package_file
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

PACKAGE = "swagger-ui-dist"
FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
INIT_SCRIPT = "labcas-api-explorer.js"
VENDOR = "x-amazon-apigateway-"


class api_explorer(nodes.General, nodes.Element):
    """Where Swagger UI renders, with the spec it renders."""


def _without_vendor_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_vendor_keys(v) for k, v in value.items() if not k.startswith(VENDOR)}
    if isinstance(value, list):
        return [_without_vendor_keys(v) for v in value]
    return value


class ExplorerDirective(SphinxDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        path = Path(self.env.srcdir) / self.arguments[0]
        self.env.note_dependency(str(path))
        spec = _without_vendor_keys(yaml.safe_load(path.read_text(encoding="utf-8")))
        return [api_explorer(spec=json.dumps(spec, separators=(",", ":")))]


def visit_html(self: Any, node: api_explorer) -> None:
    spec = node["spec"].replace("</", "<\\/")  # cannot end the script element early
    self.body.append('<div id="labcas-api-explorer" class="labcas-api-explorer">')
    self.body.append("<p>Loading the interactive reference (it needs JavaScript).</p></div>")
    self.body.append(f'<script type="application/json" id="labcas-openapi-spec">{spec}</script>')
    raise nodes.SkipNode


def visit_other(self: Any, node: api_explorer) -> None:
    raise nodes.SkipNode


def on_builder_inited(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    docs = Path(app.confdir)
    staged = Path(app.doctreedir).parent / "swagger-ui"
    staged.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(package_file(docs, PACKAGE, name), staged / name)
    app.config.html_static_path.append(str(staged))


def on_page_context(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if doctree is None or doctree.next_node(api_explorer) is None:
        return
    app.add_css_file("swagger-ui.css", priority=800)
    app.add_js_file("swagger-ui-bundle.js", priority=800)
    app.add_js_file(INIT_SCRIPT, priority=801)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_node(
        api_explorer,
        html=(visit_html, None),
        latex=(visit_other, None),
        text=(visit_other, None),
        man=(visit_other, None),
        texinfo=(visit_other, None),
    )
    app.add_directive("openapi-explorer", ExplorerDirective)
    app.connect("builder-inited", on_builder_inited)
    app.connect("html-page-context", on_page_context)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
