"""The configuration reference, generated from ``labcas_workflow_api.settings.Settings``.

``.. labcas-settings::`` renders a summary table and one ``envvar`` entry per field (variable
name, type, default, constraints, description), so ``:envvar:`LABCAS_CONFIG``` links to it
and a setting added to the class appears here without anyone editing the docs. A field
without a description is a build warning (an error with ``-W``).
"""

from __future__ import annotations

import types
import typing
from typing import Any

import annotated_types
from docutils import nodes
from docutils.statemachine import StringList
from labcas_rst import inline
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

log = logging.getLogger(__name__)


def type_name(annotation: Any) -> str:
    """A reader's name for a field type: ``string``, ``number``, ``one of ...``."""
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in simple:
        return simple[annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        choices = ", ".join(f"``{a}``" if a != "" else '``""`` (empty)' for a in args)
        return f"one of {choices}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_name(args[0])}" if args else "list"
    return f"``{getattr(annotation, '__name__', repr(annotation))}``"


def default_text(value: Any) -> str:
    if value is None:
        return "(none)"
    if value == "":
        return "(empty)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"``{value}``"


def constraints(metadata: list[Any]) -> str:
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    parts = []
    for item in metadata:
        for attribute, symbol in words.items():
            bound = getattr(item, attribute, None)
            if isinstance(item, annotated_types.BaseMetadata) and bound is not None:
                parts.append(f"{symbol} {bound}")
    return ", ".join(parts)


def settings_fields() -> list[dict[str, str]]:
    """Every setting as rows of text (variable, type, default, constraints, description)."""
    from labcas_workflow_api.settings import Settings

    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    rows = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        rows.append(
            {
                "name": name,
                "variable": alias.upper() if alias else f"{prefix}{name.upper()}",
                "type": type_name(field.annotation),
                "default": default_text(field.get_default(call_default_factory=True)),
                "constraints": constraints(list(field.metadata)),
                "description": inline(field.description or ""),
            }
        )
    return rows


class SettingsDirective(SphinxDirective):
    """Render the reference of every ``LABCAS_*`` setting."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        import labcas_workflow_api.settings as module

        self.env.note_dependency(module.__file__)
        rows = settings_fields()
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 30 25 20",
            "   :class: api-table",
            "",
            "   * - Variable",
            "     - Type",
            "     - Default",
        ]
        for row in rows:
            lines += [
                f"   * - :envvar:`{row['variable']}`",
                f"     - {row['type']}",
                f"     - {row['default']}",
            ]
        lines.append("")
        for row in rows:
            if not row["description"]:
                log.warning(
                    f"setting {row['variable']} (Settings.{row['name']}) has no description",
                    location=self.get_location(),
                )
            lines += [f".. envvar:: {row['variable']}", ""]
            lines += [f"   {row['description'] or '(undocumented)'}", ""]
            facts = f"   Type: {row['type']}. Default: {row['default']}."
            if row["constraints"]:
                facts += f" Allowed: {row['constraints']}."
            lines += [facts, ""]
        container = nodes.container(classes=["labcas-settings"])
        nested_parse_with_titles(self.state, StringList(lines, source="Settings"), container)
        return [container]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("labcas-settings", SettingsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
