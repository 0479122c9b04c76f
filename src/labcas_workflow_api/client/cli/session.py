"""Signing in: ``login``, ``logout``, ``whoami``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.text import Text

from labcas_workflow_api.client import config, render
from labcas_workflow_api.client.api import LabcasClient
from labcas_workflow_api.client.cli.common import UsageProblem, out_console

app = typer.Typer()


@app.command()
def login(
    ctx: typer.Context,
    api_url: Annotated[str | None, typer.Option("--api-url", help="API base URL to save.")] = None,
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="Read the token from standard input.")
    ] = False,
    verify: Annotated[bool, typer.Option(help="Check the token against the API first.")] = True,
) -> None:
    """Save the API URL and your token in your config file (readable by you only)."""
    opts = ctx.find_root().obj or {}
    saved = config.read_config()
    url = api_url or opts.get("api_url") or saved.get("api_url")
    if not url:
        url = typer.prompt("API URL", default="http://127.0.0.1:8000")
    token = sys.stdin.readline() if token_stdin else opts.get("token")
    if not token:
        token = typer.prompt("Paste your LabCAS token", hide_input=True)
    token = token.strip()
    if not token:
        raise UsageProblem("the token is empty")
    claims = config.token_claims(token)
    expiry = config.token_expiry(claims)
    expires = render.when(expiry, zone=True)
    if expiry and expiry <= datetime.now(UTC):
        raise UsageProblem(f"this token expired at {expires}; ask for a new one")
    url = url.rstrip("/")
    if verify:
        with LabcasClient(url, token, http=opts.get("http")) as client:
            client.data_selections()
    path = config.write_config({"api_url": url, "token": token})
    who = config.token_user(claims) or "unknown user"
    until = f", token valid until {expires}" if expiry else ""
    out_console().print(Text(f"Signed in to {url} as {who}{until}. Saved in {path}."))


@app.command()
def logout() -> None:
    """Forget the saved token (keeps the API URL)."""
    saved = config.read_config()
    if saved.pop("token", None) is not None:
        config.write_config(saved)
    out_console().print("Signed out.")


@app.command()
def whoami(ctx: typer.Context) -> None:
    """Show which API and user the CLI would use (never the token)."""
    opts = ctx.find_root().obj or {}
    conn = config.resolve(opts.get("api_url"), opts.get("token"))
    claims = config.token_claims(conn.token or "")
    expiry = config.token_expiry(claims)
    out = out_console()
    out.print(Text(f"API: {conn.api_url or '(none)'}  [from {conn.source_url}]"))
    if conn.token:
        who = config.token_user(claims) or "unknown"
        out.print(Text(f"User: {who}  [token from {conn.source_token}]"))
        if expiry:
            state = "expired" if expiry <= datetime.now(UTC) else "expires"
            out.print(Text(f"Token {state}: {render.when(expiry, zone=True)}"))
    else:
        out.print("No token.")
