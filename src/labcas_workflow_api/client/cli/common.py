"""What every command shares: consoles, exit codes, the failure handler, the client."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from labcas_workflow_api.client.api import ClientError, LabcasClient
from labcas_workflow_api.client.config import ENV_TOKEN, ENV_URL, resolve

EXIT_FAILED = 1
EXIT_ERROR = 2

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]


class UsageProblem(Exception):
    """Something the user asked cannot be done as given (exit 2)."""


def out_console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    err_console().print(Text(f"error: {message}", style="red"))
    raise typer.Exit(code)


class Handled(TyperGroup):
    """Commands whose expected failures become one line on stderr and a non-zero exit."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            hint = " (sign in again: labcas-workflows login)" if exc.status == 401 else ""
            fail(f"{exc}{hint}")
        except (UsageProblem, ValueError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        except KeyboardInterrupt:
            err_console().print("interrupted")
            raise typer.Exit(130) from None


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def client_for(ctx: typer.Context) -> LabcasClient:
    """A client of the API the global options, the environment or the config file name."""
    opts = ctx.find_root().obj or {}
    conn = resolve(opts.get("api_url"), opts.get("token"))
    if not conn.api_url:
        raise UsageProblem(
            f"no API URL: pass --api-url, set {ENV_URL} or run labcas-workflows login"
        )
    if not conn.token:
        raise UsageProblem(f"no token: pass --token, set {ENV_TOKEN} or run labcas-workflows login")
    return LabcasClient(conn.api_url, conn.token, http=opts.get("http"))
