"""Provenance: ``provenance``, a run's Workflow Run RO-Crate written to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from labcas_workflow_api.client.cli.common import client_for, err_console, out_console
from labcas_workflow_api.domain.sizes import human_size

app = typer.Typer()


@app.command()
def provenance(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run's id.")],
    zipped: Annotated[
        bool, typer.Option("--zip", help="The whole crate as a zip (with its preview page).")
    ] = False,
    workflow: Annotated[
        str | None,
        typer.Option("--workflow", "-w", help="The run's workflow (else looked for)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write here (default: RUN-ro-crate.json or .zip in .)."
        ),
    ] = None,
) -> None:
    """Save a run's provenance (a Workflow Run RO-Crate) and print where it went."""
    with client_for(ctx) as client:
        workflow_id = workflow or client.find_run(run_id).workflow_id
        body = client.ro_crate(workflow_id, run_id, zipped=zipped)
    target = output or Path(f"{run_id}-ro-crate.{'zip' if zipped else 'json'}")
    target.write_bytes(body)
    err_console().print(
        Text(f"Provenance of run {run_id} of {workflow_id} ({human_size(len(body))}):")
    )
    out_console().print(Text(str(target)))
