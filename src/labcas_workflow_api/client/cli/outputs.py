"""Outputs: ``outputs``, ``download``, ``annotate``; ``provenance``, a run's RO-Crate to a file."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
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
from labcas_workflow_api.client.api import clean_path
from labcas_workflow_api.client.cli.common import (
    JsonOpt,
    UsageProblem,
    client_for,
    err_console,
    out_console,
    print_json,
)
from labcas_workflow_api.domain.sizes import human_size

app = typer.Typer()


@app.command()
def outputs(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Folder under your outputs.")] = "",
    tree: Annotated[bool, typer.Option("--tree", help="Show every level as a tree.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List a folder of your outputs (or the whole tree under it)."""
    with client_for(ctx) as client:
        if not tree:
            listing = client.outputs(path)
            if as_json:
                print_json({"path": clean_path(path), **listing.model_dump(mode="json")})
            else:
                out_console().print(render.outputs(listing, clean_path(path)))
            return
        files = list(client.walk(path))
    if as_json:
        print_json([_file_json(rel, e) for rel, e in files])
        return
    out_console().print(render.tree(path, files))


def _file_json(rel: str, entry: wire.FileEntry) -> dict[str, Any]:
    return {
        "path": rel,
        "size": entry.size,
        "last_modified": entry.last_modified.isoformat(),
        "properties": entry.properties,
        "href": entry.href,
    }


@app.command()
def download(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="File or folder under your outputs.")],
    dest: Annotated[
        Path | None,
        typer.Argument(
            help="Local folder (or file name for one file); default: here, named after PATH."
        ),
    ] = None,
) -> None:
    """Download a file or a folder recursively; complete files are skipped, partial ones
    resumed, sizes checked."""
    if dest is None:
        dest = Path(clean_path(path).rpartition("/")[2] or "labcas-outputs")
    err = err_console()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
    )
    task_id = progress.add_task("download", total=None)

    def start(plan: list[tuple[str, wire.FileEntry]]) -> None:
        total = sum(e.size for _, e in plan)
        progress.update(task_id, total=total, description=render.count(len(plan), "file"))

    with client_for(ctx) as client, progress:
        advance = functools.partial(progress.advance, task_id)
        results = client.download(path, dest, on_start=start, on_progress=advance)
        done = sum(r.size for r in results)
    counts = Counter(r.outcome for r in results)
    out_console().print(
        Text(
            f"{render.count(len(results), 'file')} in {dest}: {counts['downloaded']} downloaded, "
            f"{counts['resumed']} resumed, {counts['skipped']} already complete "
            f"({human_size(done)}, sizes checked)."
        )
    )


@app.command()
def annotate(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="FOLDER/FILE, or the folder holding FILE.")],
    file: Annotated[str | None, typer.Argument(help="File name in that folder.")] = None,
    pairs: Annotated[list[str] | None, typer.Argument(help="Properties as key=value.")] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", "-r", help="A property to delete.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set (or remove) metadata properties of an output file, keeping the others."""
    if file is not None and "=" in file:  # annotate FOLDER/FILE key=value...
        pairs, file = [file, *(pairs or [])], None
    if file is None:
        path, _, file = clean_path(path).rpartition("/")
        if not file:
            raise UsageProblem("name the file: FOLDER/FILE, or FOLDER FILE")
    updates: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageProblem(f"expected key=value, got {pair!r}")
        updates[key.strip()] = value
    if not updates and not remove:
        raise UsageProblem("give at least one key=value or --remove KEY")
    with client_for(ctx) as client:
        merged = client.annotate(path, file, updates, remove=remove or [])
    if as_json:
        print_json(merged)
        return
    out = out_console()
    out.print(Text(f"Saved {render.count(len(merged), 'property', 'properties')} of {file}:"))
    for key, value in merged.items():
        out.print(Text(f"  {key} = {value}"))


@app.command()
def provenance(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run's id.")],
    zipped: Annotated[
        bool, typer.Option("--zip", help="The whole crate as a zip (with its preview page).")
    ] = False,
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-w", help="The run's workflow (else looked for).")
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
