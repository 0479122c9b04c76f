"""``labcas-workflows``, the command line of the LabCAS Workflow API: one module per group."""

from __future__ import annotations

from typing import Annotated

import typer

from labcas_workflow_api.client.cli import catalog, outputs, runs, session
from labcas_workflow_api.client.cli.common import Handled
from labcas_workflow_api.client.config import ENV_TOKEN, ENV_URL

app = typer.Typer(
    name="labcas-workflows",
    cls=Handled,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for group in (session, catalog, runs, outputs):
    app.add_typer(group.app)


@app.callback()
def main(
    ctx: typer.Context,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help=f"API base URL (else ${ENV_URL}, else login).")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help=f"LabCAS token (else ${ENV_TOKEN}, else login).")
    ] = None,
) -> None:
    """Run LabCAS workflows, follow their runs and fetch their outputs."""
    ctx.ensure_object(dict).update(api_url=api_url, token=token)
