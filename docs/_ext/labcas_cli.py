"""Command-line references generated from the typer apps themselves.

``.. typer-commands:: labcas_workflow_api.cli:app labcas-workflow-api`` renders, for every
command, its usage line, help text, arguments and options (with defaults and environment
variables), so the page follows the code.
"""

from __future__ import annotations

import importlib
from typing import Any

import click
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from labcas_rst import inline


def _load(spec: str) -> click.Command:
    import typer

    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return typer.main.get_command(getattr(module, attr))


def _param_line(ctx: click.Context, param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        name = param.human_readable_name.upper()
        text = f"- ``{name}``" + ("" if param.required else " (optional)")
    else:
        assert isinstance(param, click.Option)
        names = [*param.opts, *param.secondary_opts]
        shown = ", ".join(f"``{n}``" for n in names)
        if not param.is_flag and not param.count:
            shown += f" ``{param.make_metavar(ctx)}``" if _metavar_ok(ctx, param) else ""
        text = f"- {shown}"
    help_text = getattr(param, "help", None)
    if help_text:
        text += f": {inline(' '.join(help_text.split()))}"
    facts = []
    if isinstance(param, click.Option):
        if param.required:
            facts.append("required")
        if param.multiple:
            facts.append("repeatable")
        default = param.default
        if (
            default not in (None, False, (), [])
            and not callable(default)
            and not param.is_flag
            and str(default) != ""
        ):
            facts.append(f"default ``{default}``")
        if param.envvar:
            envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
            facts.append("environment " + ", ".join(f"``{e}``" for e in envvars))
    if facts:
        text += f" ({'; '.join(facts)})"
    return text


def _metavar_ok(ctx: click.Context, param: click.Option) -> bool:
    try:
        return bool(param.make_metavar(ctx))
    except TypeError:
        return False


def _usage(ctx: click.Context, command: click.Command, prog: str) -> str:
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
        root_ctx = click.Context(group, info_name=prog)
        heading = self.options.get("heading", "-")
        lines: list[str] = []
        if group.help:
            lines += [inline(" ".join(group.help.split())), ""]
        global_params = [p for p in group.get_params(root_ctx) if p.name != "help"]
        if global_params:
            lines += ["Options of the command itself (before the subcommand):", ""]
            lines += [_param_line(root_ctx, p) for p in global_params]
            lines.append("")
        commands = group.commands if isinstance(group, click.Group) else {}
        for name in sorted(commands):
            command = commands[name]
            if command.hidden:
                continue
            ctx = click.Context(command, info_name=f"{prog} {name}", parent=root_ctx)
            usage = _usage(ctx, command, f"{prog} {name}")
            lines += [f".. _cli-{prog}-{name}:", "", f"``{name}``", heading * (len(name) + 4), ""]
            lines += [".. code-block:: text", "", f"   {usage}", ""]
            doc = (command.help or "").strip()
            if doc:
                lines += [inline(" ".join(doc.split("\n\n")[0].split())), ""]
            params = [p for p in command.get_params(ctx) if p.name != "help"]
            if params:
                lines += [_param_line(ctx, p) for p in params]
                lines.append("")
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=spec), container)
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("typer-commands", TyperCommands)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
