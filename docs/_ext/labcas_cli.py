"""Command-line references generated from the typer apps themselves.

``.. typer-commands:: labcas_workflow_api.cli:app labcas-workflow-api`` renders, for every
command, its usage line, help text, arguments and options (with defaults and environment
variables), so the page follows the code.
"""

from __future__ import annotations

import importlib
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from labcas_rst import inline
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

# typer may ship its own copy of click, so objects are used by their attributes only.


def _load(spec: str) -> Any:
    import typer

    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return typer.main.get_command(getattr(module, attr))


def _param_line(ctx: Any, param: Any) -> str:
    """One bullet: the option's names and metavar, then its help with default and bounds."""
    record = param.get_help_record(ctx)
    if not record:
        return ""
    names, help_text = record
    line = f"- ``{names}``"
    if help_text:
        line += f": {inline(' '.join(help_text.split()))}"
    return line


def _usage(ctx: Any, command: Any, prog: str) -> str:
    pieces = command.collect_usage_pieces(ctx)
    return " ".join([prog, *pieces])


class TyperCommands(SphinxDirective):
    required_arguments = 2
    option_spec = {"heading": lambda value: (value or "-").strip()[:1] or "-"}

    def run(self) -> list[nodes.Node]:
        spec, prog = self.arguments
        group = _load(spec)
        module = importlib.import_module(spec.partition(":")[0])
        if module.__file__:
            self.env.note_dependency(module.__file__)
        root_ctx = group.context_class(group, info_name=prog)
        heading = self.options.get("heading", "-")
        lines: list[str] = []
        if group.help:
            lines += [inline(" ".join(group.help.split())), ""]
        global_params = [p for p in group.get_params(root_ctx) if p.name != "help"]
        if global_params:
            lines += ["Options of the command itself (before the subcommand):", ""]
            lines += [line for p in global_params if (line := _param_line(root_ctx, p))]
            lines.append("")
        commands = getattr(group, "commands", {})
        for name in sorted(commands):
            command = commands[name]
            if command.hidden:
                continue
            ctx = command.context_class(command, info_name=f"{prog} {name}", parent=root_ctx)
            usage = _usage(ctx, command, f"{prog} {name}")
            lines += [f".. _cli-{prog}-{name}:", "", f"``{name}``", heading * (len(name) + 4), ""]
            lines += [".. code-block:: text", "", f"   {usage}", ""]
            doc = (command.help or "").strip()
            if doc:
                lines += [inline(" ".join(doc.split("\n\n")[0].split())), ""]
            params = [p for p in command.get_params(ctx) if p.name != "help"]
            if params:
                lines += [line for p in params if (line := _param_line(ctx, p))]
                lines.append("")
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=spec), container)
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("typer-commands", TyperCommands)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
