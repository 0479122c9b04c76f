"""``labcas-workflows``: the command-line client of the LabCAS Workflow API."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from labcas_workflow_api import wire
from labcas_workflow_api.client import render
from labcas_workflow_api.client.api import ClientError, LabcasClient, clean_path
from labcas_workflow_api.client.config import (
    ENV_TOKEN,
    ENV_URL,
    read_config,
    resolve,
    token_claims,
    token_expiry,
    token_user,
    write_config,
)
from labcas_workflow_api.client.models import ParameterSpec, check_params, progress_text
from labcas_workflow_api.domain.sizes import human_size

app = typer.Typer(
    name="labcas-workflows",
    help="Run LabCAS workflows, follow their runs and fetch their outputs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_FAILED = 1
EXIT_ERROR = 2
STATUSES = ("queued", "running", "success", "failed")

F = TypeVar("F", bound=Callable[..., Any])
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]


class UsageProblem(Exception):
    """Something the user asked cannot be done as given (exit 2)."""


def _out() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    _err().print(Text(f"error: {message}", style="red"))
    raise typer.Exit(code)


def _hint(exc: ClientError) -> str:
    if exc.status == 401:
        return f"{exc} (sign in again: labcas-workflows login)"
    return str(exc)


def handled(fn: F) -> F:
    """Turn every expected failure into one line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            fail(_hint(exc))
        except (UsageProblem, ValueError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        except KeyboardInterrupt:
            _err().print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


@app.callback()
def main(
    ctx: typer.Context,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help=f"API base URL (else ${ENV_URL}, else login).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help=f"LabCAS token (else ${ENV_TOKEN}, else login).", show_default=False
        ),
    ] = None,
) -> None:
    """Run LabCAS workflows, follow their runs and fetch their outputs."""
    ctx.ensure_object(dict).update(api_url=api_url, token=token)


def _client(ctx: typer.Context) -> LabcasClient:
    opts = ctx.find_root().obj or {}
    try:
        conn = resolve(opts.get("api_url"), opts.get("token"))
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if not conn.api_url:
        raise UsageProblem(
            f"no API URL: pass --api-url, set {ENV_URL} or run labcas-workflows login"
        )
    if not conn.token:
        raise UsageProblem(f"no token: pass --token, set {ENV_TOKEN} or run labcas-workflows login")
    return LabcasClient(conn.api_url, conn.token, http=opts.get("http"))


# -- sign in ---------------------------------------------------------------------------------


@app.command()
@handled
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
    saved = read_config()
    url = api_url or opts.get("api_url") or saved.get("api_url")
    if not url:
        url = typer.prompt("API URL", default="http://127.0.0.1:8000")
    token = opts.get("token")
    if token_stdin:
        token = sys.stdin.readline()
    if not token:
        token = typer.prompt("Paste your LabCAS token", hide_input=True)
    token = token.strip()
    if not token:
        raise UsageProblem("the token is empty")
    claims = token_claims(token)
    expiry = token_expiry(claims)
    if expiry and expiry <= datetime.now(UTC):
        raise UsageProblem(f"this token expired at {render.stamp(expiry)}; ask for a new one")
    url = url.rstrip("/")
    if verify:
        with LabcasClient(url, token, http=opts.get("http")) as client:
            client.data_selections()
    path = write_config({"api_url": url, "token": token})
    who = token_user(claims) or "unknown user"
    until = f", token valid until {render.stamp(expiry)}" if expiry else ""
    _out().print(Text(f"Signed in to {url} as {who}{until}. Saved in {path}."))


@app.command()
@handled
def logout() -> None:
    """Forget the saved token (keeps the API URL)."""
    saved = read_config()
    if "token" in saved:
        saved.pop("token")
        write_config(saved)
    _out().print("Signed out.")


@app.command()
@handled
def whoami(ctx: typer.Context) -> None:
    """Show which API and user the CLI would use (never the token)."""
    opts = ctx.find_root().obj or {}
    conn = resolve(opts.get("api_url"), opts.get("token"))
    claims = token_claims(conn.token or "")
    expiry = token_expiry(claims)
    out = _out()
    out.print(Text(f"API: {conn.api_url or '(none)'}  [from {conn.source_url}]"))
    if conn.token:
        out.print(
            Text(f"User: {token_user(claims) or 'unknown'}  [token from {conn.source_token}]")
        )
        if expiry:
            state = "expired" if expiry <= datetime.now(UTC) else "expires"
            out.print(Text(f"Token {state}: {render.stamp(expiry)}"))
    else:
        out.print("No token.")


# -- discovery -------------------------------------------------------------------------------


@app.command("data-selections")
@handled
def data_selections(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the data selections you may run workflows on."""
    with _client(ctx) as client:
        items = client.data_selections()
    if as_json:
        _print_json([d.model_dump(mode="json") for d in items])
    else:
        _out().print(render.data_selections(items))


@app.command()
@handled
def workflows(
    ctx: typer.Context,
    data_selection: Annotated[
        str | None, typer.Option("--data-selection", "-d", help="Only those enabled for it.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the workflows you may run (on one data selection, or on any)."""
    with _client(ctx) as client:
        items = client.workflows(data_selection)
    if as_json:
        _print_json([w.model_dump(mode="json") for w in items])
    else:
        _out().print(render.workflows(items, data_selection))


@app.command()
@handled
def describe(ctx: typer.Context, workflow: str, as_json: JsonOpt = False) -> None:
    """Show a workflow's description and parameters."""
    with _client(ctx) as client:
        detail = client.workflow(workflow)
    if as_json:
        _print_json(detail.model_dump(mode="json", by_alias=True))
        return
    out = _out()
    for part in render.workflow(detail):
        out.print(part)


# -- runs ------------------------------------------------------------------------------------


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
            known = ", ".join(sorted(detail.parameters)) or "none"
            raise UsageProblem(f"unknown parameter {key!r} (parameters of {detail.id}: {known})")
        params[key] = ParameterSpec(key, parameter).convert(text)
    problems = check_params(detail, params)
    if problems:
        raise UsageProblem("; ".join(problems))
    return params


def _live_line(run: wire.RunDetail, started: float) -> Text:
    line = Text(f"{run.workflow_id} {run.run_id}: ")
    line.append_text(render.status(run.status))
    line.append(f" · {progress_text(run)}")
    line.append(f" · waiting {render.duration(time.monotonic() - started)}", style="dim")
    return line


def _wait(
    client: LabcasClient, workflow: str, run_id: str, interval: float, timeout: float | None
) -> wire.RunDetail:
    err = _err()
    started = time.monotonic()
    last: list[str] = []
    with err.status("waiting for the run", spinner="dots") as spinner:

        def update(run: wire.RunDetail) -> None:
            if run.status not in last:
                last.append(run.status)
                err.print(
                    Text(f"{render.when(datetime.now(UTC))} ").append_text(
                        render.status(run.status)
                    )
                )
            spinner.update(_live_line(run, started))

        try:
            return client.wait(
                workflow, run_id, interval=interval, timeout=timeout, on_update=update
            )
        except KeyboardInterrupt:
            err.print(
                Text(
                    f"Stopped waiting; the run goes on. Follow it with: "
                    f"labcas-workflows status {workflow} {run_id}"
                )
            )
            raise typer.Exit(130) from None


def _finish(run: wire.RunDetail, as_json: bool) -> None:
    if as_json:
        _print_json(run.model_dump(mode="json"))
    else:
        out = _out()
        for part in render.run(run):
            out.print(part)
    if run.status != "success":
        raise typer.Exit(EXIT_FAILED)


@app.command()
@handled
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
    with _client(ctx) as client:
        detail = client.workflow(workflow)
        params = build_params(detail, param or [], params_file)
        if dry_run:
            answer = client.check_run(workflow, data_selection, params)
            if as_json:
                _print_json(answer.model_dump(mode="json"))
            else:
                _out().print(Text("The server accepts this request; nothing was started."))
            return
        started = client.start_run(workflow, data_selection, params)
        if as_json and not wait:
            _print_json(started.model_dump(mode="json"))
            return
        _err().print(Text(f"Started run {started.run_id} of {workflow} ({started.status})."))
        if not wait:
            _out().print(Text(started.run_id))
            return
        final = _wait(client, workflow, started.run_id, interval, timeout)
    _finish(final, as_json)


@app.command()
@handled
def runs(
    ctx: typer.Context,
    workflow: str,
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="Only runs in this state.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many runs.", min=1)] = None,
    as_json: JsonOpt = False,
) -> None:
    """List your runs of a workflow, newest first."""
    if status is not None and status not in STATUSES:
        raise UsageProblem(f"--status must be one of {', '.join(STATUSES)}")
    with _client(ctx) as client:
        items = client.runs(workflow, status=status, limit=limit)
    if as_json:
        _print_json([r.model_dump(mode="json") for r in items])
    else:
        _out().print(render.runs(items, workflow))


@app.command()
@handled
def status(
    ctx: typer.Context,
    workflow: str,
    run_id: str,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between checks.", min=0.2)] = 3.0,
    as_json: JsonOpt = False,
) -> None:
    """Show a run with its tasks."""
    with _client(ctx) as client:
        info = (
            _wait(client, workflow, run_id, interval, None)
            if wait
            else client.run(workflow, run_id)
        )
    if wait:
        _finish(info, as_json)
    elif as_json:
        _print_json(info.model_dump(mode="json"))
    else:
        out = _out()
        for part in render.run(info):
            out.print(part)


@app.command()
@handled
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
    with _client(ctx) as client:
        for chunk in client.iter_task_log(workflow, run_id, task, try_number=try_number):
            sys.stdout.write(chunk)
    sys.stdout.flush()


@app.command()
@handled
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
    with _client(ctx) as client:
        info = client.cancel_run(workflow, run_id)
    _out().print(Text(f"Cancelled run {run_id} (now {info.status})."))


# -- outputs ---------------------------------------------------------------------------------


@app.command()
@handled
def outputs(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Folder under your outputs.")] = "",
    tree: Annotated[bool, typer.Option("--tree", help="Show every level as a tree.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List a folder of your outputs (or the whole tree under it)."""
    with _client(ctx) as client:
        if not tree:
            listing = client.outputs(path)
            if as_json:
                _print_json({"path": clean_path(path), **listing.model_dump(mode="json")})
            else:
                _out().print(render.outputs(listing, clean_path(path)))
            return
        files = list(client.walk(path))
    if as_json:
        _print_json([_file_json(rel, e) for rel, e in files])
        return
    root = render.tree_node("/" + path.strip("/") if path.strip("/") else "/ (your outputs)")
    nodes: dict[str, Any] = {"": root}
    for rel, entry in sorted(files):
        folder = rel.rpartition("/")[0]
        parent_key = ""
        for part in [p for p in folder.split("/") if p]:
            key = f"{parent_key}/{part}" if parent_key else part
            if key not in nodes:
                nodes[key] = nodes[parent_key].add(Text(part + "/", style="bold blue"))
            parent_key = key
        name = rel.rpartition("/")[2]
        render.tree_file(nodes[parent_key], name, entry.size, entry.properties)
    _out().print(root)


def _file_json(rel: str, entry: wire.FileEntry) -> dict[str, Any]:
    return {
        "path": rel,
        "size": entry.size,
        "last_modified": entry.last_modified.isoformat(),
        "properties": entry.properties,
        "href": entry.href,
    }


@app.command()
@handled
def download(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="File or folder under your outputs.")],
    dest: Annotated[Path, typer.Argument(help="Local folder (or file name for one file).")],
) -> None:
    """Download a file or a folder recursively; complete files are skipped, partial ones
    resumed, sizes checked."""
    err = _err()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
    task_id = progress.add_task("download", total=None)

    def start(plan: list[tuple[str, wire.FileEntry]]) -> None:
        total = sum(e.size for _, e in plan)
        progress.update(task_id, total=total, description=f"{len(plan)} files")

    with _client(ctx) as client, progress:
        results = client.download(
            path,
            dest,
            on_start=start,
            on_progress=lambda n: progress.advance(task_id, n),
        )
        done = sum(r.size for r in results)
    counts = {
        k: sum(1 for r in results if r.outcome == k) for k in ("downloaded", "resumed", "skipped")
    }
    _out().print(
        Text(
            f"{len(results)} files in {dest}: {counts['downloaded']} downloaded, "
            f"{counts['resumed']} resumed, {counts['skipped']} already complete "
            f"({human_size(done)}, sizes checked)."
        )
    )


@app.command()
@handled
def annotate(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Folder holding the file.")],
    file: Annotated[str, typer.Argument(help="File name in that folder.")],
    pairs: Annotated[list[str] | None, typer.Argument(help="Properties as key=value.")] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", "-r", help="A property to delete.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set (or remove) metadata properties of an output file, keeping the others."""
    updates: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageProblem(f"expected key=value, got {pair!r}")
        updates[key.strip()] = value
    if not updates and not remove:
        raise UsageProblem("give at least one key=value or --remove KEY")
    with _client(ctx) as client:
        merged = client.annotate(path, file, updates, remove=remove or [])
    if as_json:
        _print_json(merged)
        return
    out = _out()
    out.print(Text(f"Saved {len(merged)} properties of {file}:"))
    for key, value in merged.items():
        out.print(Text(f"  {key} = {value}"))


if __name__ == "__main__":  # pragma: no cover
    app()
