"""What the caller may use: ``data-selections``, ``workflows``, ``describe``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from labcas_workflow_api.client import render
from labcas_workflow_api.client.cli.common import JsonOpt, client_for, out_console, print_json

app = typer.Typer()


@app.command("data-selections")
def data_selections(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the data selections you may run workflows on."""
    with client_for(ctx) as client:
        items = client.data_selections()
    if as_json:
        print_json([d.model_dump(mode="json") for d in items])
    else:
        out_console().print(render.entries(items, "Data selection", "Data selections you may use"))


@app.command()
def workflows(
    ctx: typer.Context,
    data_selection: Annotated[
        str | None, typer.Option("--data-selection", "-d", help="Only those enabled for it.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the workflows you may run (on one data selection, or on any)."""
    with client_for(ctx) as client:
        items = client.workflows(data_selection)
    if as_json:
        print_json([w.model_dump(mode="json") for w in items])
    else:
        title = f"Workflows for {data_selection}" if data_selection else "Workflows you may run"
        out_console().print(render.entries(items, "Workflow", Text(title)))


@app.command()
def describe(ctx: typer.Context, workflow: str, as_json: JsonOpt = False) -> None:
    """Show a workflow's description and parameters."""
    with client_for(ctx) as client:
        detail = client.workflow(workflow)
    if as_json:
        print_json(detail.model_dump(mode="json", by_alias=True))
        return
    out = out_console()
    for part in render.workflow(detail):
        out.print(part)
