"""Mermaid diagrams rendered in the browser by a script bundled with the site (no network).

The renderer is the ``@mermaid-js/tiny`` npm package (one self-contained file, no
dependencies), installed at build time by ``labcas_npm``. The file is copied into the site's
``_static/`` and loaded only by pages that have a diagram.

Usage::

    .. mermaid::
       :caption: Standalone deployment

       flowchart LR
         A --> B
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from labcas_npm import package_file
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

PACKAGE = "@mermaid-js/tiny"
SCRIPT = "mermaid.tiny.js"
INIT_SCRIPT = "labcas-mermaid-init.js"


class mermaid_diagram(nodes.General, nodes.Element):
    """A diagram: its Mermaid source and an optional caption."""


class MermaidDirective(SphinxDirective):
    has_content = True
    option_spec = {"caption": directives.unchanged, "name": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        source = "\n".join(self.content).strip()
        if not source:
            raise self.error("mermaid: empty diagram")
        node = mermaid_diagram(code=source, caption=self.options.get("caption", ""))
        self.add_name(node)
        return [node]


def visit_html(self: Any, node: mermaid_diagram) -> None:
    ids = " ".join(node.get("ids", []))
    self.body.append(f'<figure class="mermaid-figure" id="{html.escape(ids)}">')
    # Mermaid reads the element's text, so the escaped source renders as written; without
    # JavaScript the reader still sees the diagram's source.
    self.body.append(f'<pre class="mermaid">{html.escape(node["code"])}</pre>')
    if node["caption"]:
        self.body.append(f"<figcaption>{html.escape(node['caption'])}</figcaption>")
    self.body.append("</figure>")
    raise nodes.SkipNode


def visit_other(self: Any, node: mermaid_diagram) -> None:
    raise nodes.SkipNode


def _docs_dir(app: Sphinx) -> Path:
    return Path(app.confdir)


def on_builder_inited(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    script = package_file(_docs_dir(app), PACKAGE, f"dist/{SCRIPT}")
    # The folder holding the script becomes a static path: Sphinx copies it into _static/.
    app.config.html_static_path.append(str(script.parent))


def on_page_context(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if doctree is None or doctree.next_node(mermaid_diagram) is None:
        return
    app.add_js_file(SCRIPT, priority=800)
    app.add_js_file(INIT_SCRIPT, priority=801)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_node(
        mermaid_diagram,
        html=(visit_html, None),
        latex=(visit_other, None),
        text=(visit_other, None),
        man=(visit_other, None),
        texinfo=(visit_other, None),
    )
    app.add_directive("mermaid", MermaidDirective)
    app.connect("builder-inited", on_builder_inited)
    app.connect("html-page-context", on_page_context)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
