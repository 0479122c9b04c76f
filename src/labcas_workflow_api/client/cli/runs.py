"""Runs: ``run``, ``runs``, ``status``, ``logs``, ``cancel``."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.text import Text

from labcas_workflow_api import wire
from labcas_workflow_api.client import models, render
from labcas_workflow_api.client.api import LabcasClient
from labcas_workflow_api.client.cli.common import (
    EXIT_FAILED,
    JsonOpt,
    UsageProblem,
    client_for,
    err_console,
    out_console,
    print_json,
)
from labcas_workflow_api.domain.models import RunStatus

app = typer.Typer()

STATUSES = tuple(RunStatus)


def build_params(
    detail: wire.WorkflowDetail, pairs: list[str], params_file: Path | None
) -> dict[str, Any]:
    """Parameters from a JSON/YAML file, overridden by ``-p key=value`` converted by schema."""
    params: dict[str, Any] = {}
    if params_file is not None:
        try:
            loaded = yaml.safe_load(params_file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise UsageProblem(f"{params_file} is not valid JSON or YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise UsageProblem(f"{params_file} must hold a mapping of parameter names to values")
        params.update(loaded or {})
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageProblem(f"-p expects key=value, got {pair!r}")
        parameter = detail.parameters.get(key)
        if parameter is None:
            raise UsageProblem(models.unknown_parameter(detail, key))
        params[key] = models.ParameterSpec(key, parameter).convert(text)
    problems = models.check_params(detail, params)
    if problems:
        raise UsageProblem("; ".join(problems))
    return params


def _wait(
    client: LabcasClient, workflow: str, run_id: str, interval: float, timeout: float | None = None
) -> wire.RunDetail:
    err = err_console()
    started = time.monotonic()
    last: list[str] = []
    with err.status("waiting for the run", spinner="dots") as spinner:

        def update(run: wire.RunDetail) -> None:
            state = render.status(run.status)
            if run.status not in last:
                last.append(run.status)
                err.print(Text.assemble(f"{render.when(datetime.now(UTC))} ", state))
            head = f"{run.workflow_id} {run.run_id}: "
            progress = f" · {models.progress_text(run)}"
            waiting = f" · waiting {render.duration(time.monotonic() - started)}"
            spinner.update(Text.assemble(head, state, progress, (waiting, "dim")))

        try:
            return client.wait(
                workflow, run_id, interval=interval, timeout=timeout, on_update=update
            )
        except KeyboardInterrupt:
            follow = f"labcas-workflows status {workflow} {run_id}"
            err.print(Text(f"Stopped waiting; the run goes on. Follow it with: {follow}"))
            raise typer.Exit(130) from None


def _show(run: wire.RunDetail, as_json: bool, *, waited: bool) -> None:
    """A run as JSON or as ``render.run`` shows it, where a line with a link is never cut (the
    terminal wraps it without breaking the link); after waiting, exit 1 unless it succeeded."""
    if as_json:
        print_json(run.model_dump(mode="json"))
    else:
        out = out_console()
        for part in render.run(run):
            out.print(part, soft_wrap=isinstance(part, Text) and part.no_wrap is True)
    if waited and run.status != "success":
        raise typer.Exit(EXIT_FAILED)


@app.command()
def run(
    ctx: typer.Context,
    workflow: str,
    data_selection: Annotated[
        str, typer.Option("--data-selection", "-d", help="Data selection to run on.")
    ],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A parameter as key=value.")
    ] = None,
    params_file: Annotated[
        Path | None, typer.Option("--params-file", help="JSON or YAML mapping of parameters.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between checks.", min=0.2)] = 3.0,
    timeout: Annotated[
        float | None, typer.Option(help="Stop waiting after this many seconds.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Have the server check the request only.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start a run. With --wait, exit 0 if it succeeds and 1 if it fails."""
    with client_for(ctx) as client:
        detail = client.workflow(workflow)
        params = build_params(detail, param or [], params_file)
        if dry_run:
            answer = client.check_run(workflow, data_selection, params)
            if as_json:
                print_json(answer.model_dump(mode="json"))
            else:
                out_console().print(Text("The server accepts this request; nothing was started."))
            return
        started = client.start_run(workflow, data_selection, params)
        if as_json and not wait:
            print_json(started.model_dump(mode="json"))
            return
        err = err_console()
        err.print(Text(f"Started run {started.run_id} of {workflow} ({started.status})."))
        if started.web_url:
            err.print(Text(f"Follow it at {started.web_url}"), soft_wrap=True)
        if not wait:
            out_console().print(Text(started.run_id))
            return
        final = _wait(client, workflow, started.run_id, interval, timeout)
    _show(final, as_json, waited=True)


@app.command()
def runs(
    ctx: typer.Context,
    workflow: Annotated[
        str | None, typer.Argument(help="Only this workflow's runs (default: every workflow's).")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="Only runs in this state.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many runs.", min=1)] = None,
    as_json: JsonOpt = False,
) -> None:
    """List your runs, newest first: of every workflow you may run, or of one."""
    if status is not None and status not in STATUSES:
        raise UsageProblem(f"--status must be one of {', '.join(STATUSES)}")
    with client_for(ctx) as client:
        items = client.runs(workflow, status=status, limit=limit)
    if as_json:
        print_json([r.model_dump(mode="json") for r in items])
    else:
        out = out_console()
        out.print(render.runs(items, workflow, out.width))


@app.command()
def status(
    ctx: typer.Context,
    workflow: str,
    run_id: str,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between checks.", min=0.2)] = 3.0,
    as_json: JsonOpt = False,
) -> None:
    """Show a run with its tasks."""
    with client_for(ctx) as client:
        info = _wait(client, workflow, run_id, interval) if wait else client.run(workflow, run_id)
    _show(info, as_json, waited=wait)


@app.command()
def logs(
    ctx: typer.Context,
    workflow: str,
    run_id: str,
    task: str,
    try_number: Annotated[
        int | None, typer.Option("--try", help="Try number (default: latest).")
    ] = None,
) -> None:
    """Print a task's log."""
    with client_for(ctx) as client:
        for chunk in client.iter_task_log(workflow, run_id, task, try_number=try_number):
            sys.stdout.write(chunk)
    sys.stdout.flush()


@app.command()
def cancel(
    ctx: typer.Context,
    workflow: str,
    run_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop a queued or running run."""
    if not yes:
        if not sys.stdin.isatty():
            raise UsageProblem("add --yes to cancel without a prompt")
        typer.confirm(f"Cancel run {run_id} of {workflow}?", abort=True)
    with client_for(ctx) as client:
        info = client.cancel_run(workflow, run_id)
    out_console().print(Text(f"Cancelled run {run_id} (now {info.status})."))
