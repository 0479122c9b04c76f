"""Access-config examples checked by the service's own parser while the site builds.

``.. access-config-example::`` shows its YAML content after parsing it with
``labcas_workflow_api.domain.access.parse_access_config``; an example that does not parse
stops the build with the parser's message. With ``:invalid:``, the example must be rejected,
and the page shows the exact message the service gives for it (``check-config`` prints the
same text).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective


class AccessConfigExample(SphinxDirective):
    has_content = True
    option_spec = {"invalid": directives.flag, "caption": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        import labcas_workflow_api.domain.access as access
        from labcas_workflow_api.domain.errors import ConfigError

        self.env.note_dependency(access.__file__)
        text = "\n".join(self.content) + "\n"
        where = f"{self.env.docname}.rst:{self.lineno}"
        expect_invalid = "invalid" in self.options
        try:
            config = access.parse_access_config(text, "access.yml")
        except ConfigError as exc:
            if not expect_invalid:
                raise ExtensionError(
                    f"{where}: the access-config example is invalid: {exc.detail}"
                ) from None
            return [*self._code(text), *self._message(exc.detail)]
        if expect_invalid:
            raise ExtensionError(f"{where}: the example marked :invalid: parses without error")
        summary = nodes.paragraph(
            "",
            f"Checked while this page was built: {len(config.collections)} data selection(s), "
            f"{len(config.users())} user(s).",
            classes=["access-config-checked"],
        )
        return [*self._code(text), summary]

    def _code(self, text: str) -> list[nodes.Node]:
        block = nodes.literal_block(text, text, language="yaml")
        caption = self.options.get("caption")
        if not caption:
            return [block]
        container = nodes.container("", literal_block=True, classes=["literal-block-wrapper"])
        container += nodes.caption(caption, caption)
        container += block
        return [container]

    def _message(self, detail: str) -> list[nodes.Node]:
        intro = nodes.paragraph("", "The service rejects it with:")
        message = nodes.literal_block(detail, detail, language="text")
        return [intro, message]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("access-config-example", AccessConfigExample)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
