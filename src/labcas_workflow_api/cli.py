"""The `labcas-workflow-api` command: serve, check an access config, mint dev tokens, dev stack."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from labcas_workflow_api.domain.errors import LabcasError

app = typer.Typer(help="LabCAS Workflow API server tools.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API with uvicorn (settings from LABCAS_* environment variables): one JSON
    access line per request, links only to allowed hosts, X-Forwarded-* believed only from
    LABCAS_FORWARDED_ALLOW_IPS, and bounded connections and request read times."""
    import uvicorn

    from labcas_workflow_api.http.server import server_options
    from labcas_workflow_api.settings import Settings

    uvicorn.run(
        "labcas_workflow_api.http.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        **server_options(Settings()),
    )


@app.command("check-config")
def check_config(
    location: Annotated[
        str | None, typer.Argument(help="FILE or ssm:NAME; default: LABCAS_CONFIG.")
    ] = None,
) -> None:
    """Validate an access config and print a summary; exit 1 naming the bad key otherwise."""
    from labcas_workflow_api.access_source import load_access_config
    from labcas_workflow_api.settings import Settings

    location = location or Settings().config
    try:
        config = load_access_config(location)
    except LabcasError as exc:
        typer.echo(f"invalid access config: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{location}: valid")
    typer.echo(f"{len(config.collections)} data selection(s), {len(config.users())} user(s)")
    for cid, collection in config.collections.items():
        typer.echo(f"- {cid}: s3://{collection.bucket}/{collection.prefix}")
        for wid, access in collection.workflows.items():
            typer.echo(f"    {wid}: {', '.join(access.authorized_users)}")


@app.command()
def token(
    user: Annotated[str, typer.Option(help="User name (uid) to put in the token.")],
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 3600,
) -> None:
    """Mint a LabCAS-style development JWT signed with the configured secret."""
    from labcas_workflow_api.auth.jwt import mint_token
    from labcas_workflow_api.auth.secrets import jwt_secret_provider
    from labcas_workflow_api.edge import is_username
    from labcas_workflow_api.settings import Settings

    if not is_username(user):
        typer.echo(f"not a valid user name: {user!r}", err=True)
        raise typer.Exit(1)
    settings = Settings()
    try:
        secret = jwt_secret_provider(settings)()
    except LabcasError as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from None
    typer.echo(
        mint_token(
            secret, user, ttl=ttl, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
    )


@app.command()
def devstack(
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    airflow_port: Annotated[int, typer.Option(help="Airflow API server port.")] = 8080,
    state_dir: Annotated[str, typer.Option(help="Where the stack keeps its data.")] = ".devstack",
) -> None:
    """Start the embedded default stack: Airflow 3, SeaweedFS S3 and the API (Ctrl-C stops)."""
    from labcas_workflow_api.devstack.stack import run_devstack

    sys.exit(run_devstack(api_port=port, airflow_port=airflow_port, state_dir=state_dir))


if __name__ == "__main__":
    app()
