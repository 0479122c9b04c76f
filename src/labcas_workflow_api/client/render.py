"""Rich renderings of the API's answers for the command line."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from labcas_workflow_api import wire
from labcas_workflow_api.client.models import ParameterSpec, aware, progress_text, run_duration
from labcas_workflow_api.domain.sizes import human_size

STATUS_STYLE = {
    "queued": "yellow",
    "running": "cyan",
    "success": "green",
    "failed": "red",
    "cancelled": "magenta",
    "upstream_failed": "red",
    "skipped": "dim",
}


def when(value: datetime | None, *, zone: bool = False) -> str:
    """A timestamp in local time, to the second (then the zone's name if ``zone``)."""
    form = "%Y-%m-%d %H:%M:%S %Z" if zone else "%Y-%m-%d %H:%M:%S"
    return aware(value).astimezone().strftime(form) if value else ""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def count(n: int, word: str, plural: str = "") -> str:
    """``1 file``, ``2 files`` (``plural`` when adding an s is not the plural)."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def status(value: str | None) -> Text:
    text = value or "unknown"
    return Text(text, style=STATUS_STYLE.get(text, ""))


def entries(items: list[wire.Entry], kind: str, title: str | Text) -> Table:
    """Data selections or workflows: ``kind`` heads the column of their ids."""
    table = Table(kind, "Description", title=title)
    for item in items:
        table.add_row(Text(item.id), Text(item.description or ""))
    return table


def workflow(detail: wire.WorkflowDetail) -> list[Any]:
    head = Text.assemble((detail.id, "bold"))
    if detail.paused:
        head.append("  (paused: runs cannot start)", style="yellow")
    parts: list[Any] = [head]
    if detail.description:
        parts.append(Text(detail.description))
    if detail.data_selections:
        parts.append(Text("Data selections: " + ", ".join(detail.data_selections)))
    if detail.schedule:
        parts.append(Text(f"Schedule: {detail.schedule}"))
    table = Table("Parameter", "Type", "Default", "Allowed", "Description", title="Parameters")
    for name, parameter in detail.parameters.items():
        spec = ParameterSpec(name, parameter)
        kind = " or ".join(spec.types) or "any"
        default = "" if parameter.default is None else json.dumps(parameter.default)
        cells = (name, kind, default, spec.bounds_text(), parameter.description or "")
        table.add_row(*map(Text, cells))
    parts.append(table if detail.parameters else Text("No parameters."))
    return parts


def runs(items: list[wire.Run], workflow_id: str | None, width: int) -> RenderableType:
    """The runs (with a Workflow column when of every workflow) as a table if it fits ``width``,
    else each on lines of its own: ids are copied whole into other commands, never wrapped."""
    title = Text(f"Your runs of {workflow_id}" if workflow_id else "Your runs")
    every = workflow_id is None
    table = Table(title=title)
    columns = ["Run", "Status", "Started", "Ended", "Duration", "Folder"]
    for name in ["Workflow", *columns] if every else columns:
        table.add_column(name, no_wrap=True)
    lines: list[RenderableType] = [Text(title.plain, style="italic")]
    for run in items:
        state, started, ended = status(run.status), when(run.start_time), when(run.end_time)
        took, folder = duration(run_duration(run)), run.output_folder or ""
        first = [Text(run.workflow_id)] if every else []
        table.add_row(*first, Text(run.run_id), state, started, ended, took, Text(folder))
        facts = Text("  ").append_text(state)
        for fact in (started and f"started {started}", ended and f"ended {ended}", took):
            if fact:
                facts.append(f" · {fact}")
        lines += [Text(run.run_id), facts]
        where = [f"workflow {run.workflow_id}"] if every else []
        where += [f"folder {folder}"] if folder else []
        if where:
            lines.append(Text("  " + " · ".join(where)))
    console = Console(width=10_000, file=io.StringIO(), color_system=None)
    fits = Measurement.get(console, console.options, table).maximum <= width
    return table if fits else Group(*lines)


def link_text(text: str) -> Text:
    """A line holding a link: never wrapped (a terminal finds a link on one line only)."""
    return Text(text, no_wrap=True, overflow="ignore")


def run(info: wire.RunDetail) -> list[Any]:
    head = Text.assemble((f"{info.workflow_id} ", "bold"), info.run_id, "  ", status(info.status))
    lines: list[Any] = [head]
    for label, value in (
        ("Started", when(info.start_time)),
        ("Ended", when(info.end_time)),
        ("Duration", duration(run_duration(info))),
        ("Progress", progress_text(info)),
        ("Folder", info.output_folder or ""),
        ("Web page", info.web_url or ""),
        ("Outputs", "" if info.web_url else info.output_url or ""),
    ):
        if value:
            lines.append(link_text(f"{label}: {value}"))
    if "in_data_selection" in info.conf:
        lines.append(Text(f"Data selection: {info.conf['in_data_selection']}"))
    params = [f"{k}={json.dumps(v)}" for k, v in info.conf.items() if k != "in_data_selection"]
    if params:
        lines.append(Text("Parameters: " + ", ".join(params)))
    table = Table(title="Tasks")
    table.add_column("Task", no_wrap=True)  # task ids are copied into `logs`
    table.add_column("State", no_wrap=True)
    for name in ("Started", "Ended", "Duration", "Try"):
        table.add_column(name)  # these wrap first
    for task in info.tasks:
        table.add_row(
            Text(task.task_id if task.map_index < 0 else f"{task.task_id} [{task.map_index}]"),
            status(task.state),
            when(task.start_time),
            when(task.end_time),
            duration(task.duration),
            str(task.try_number),
        )
    lines.append(table)
    return lines


def outputs(listing: wire.Folder, path: str) -> RenderableType:
    """A folder's listing as a table; the folders of runs first (newest first, as the API lists
    them), each with its run on lines of their own (the run id whole)."""
    where = "/" + path if path else "/ (your outputs)"
    table = Table("Name", "Size", "Modified", "Properties", title=Text(where))
    runs: list[RenderableType] = []
    for name, folder in listing.folders.items():
        label = Text(name.rstrip("/") + "/", style="bold blue")
        if (run := folder.run) is None:
            table.add_row(label, "", "", "")
            continue
        facts = Text("  ").append_text(status(run.status)).append(f" · {run.workflow_id}")
        if run.partial:
            facts.append(" · partial")
        if run.start_time:
            facts.append(f" · started {when(run.start_time)}")
        params = ", ".join(f"{k}={v}" for k, v in run.conf.items())
        runs += [label, facts, link_text(f"  {run.run_id}"), Text(f"  {params}")]
    for name, entry in listing.files.items():
        props = ", ".join(f"{k}={v}" for k, v in entry.properties.items())
        table.add_row(Text(name), human_size(entry.size), when(entry.last_modified), Text(props))
    if not runs:
        return table
    table.title = None
    rest = [table] if table.row_count else []
    return Group(
        Text(where, style="italic"), Text("Your runs' folders, newest first"), *runs, *rest
    )


def tree(path: str, files: list[tuple[str, wire.FileEntry]]) -> Tree:
    """Files (as paths relative to the folder ``path``) in a tree of their folders."""
    top = "/" + path.strip("/") if path.strip("/") else "/ (your outputs)"
    nodes = {"": Tree(Text(top, style="bold blue"))}
    for rel, entry in sorted(files):
        folder, _, name = rel.rpartition("/")
        parent = ""
        for part in filter(None, folder.split("/")):
            key = f"{parent}/{part}" if parent else part
            if key not in nodes:
                nodes[key] = nodes[parent].add(Text(part + "/", style="bold blue"))
            parent = key
        label = Text.assemble(name, (f"  {human_size(entry.size)}", "dim"))
        if entry.properties:
            props = ", ".join(f"{k}={v}" for k, v in entry.properties.items())
            label.append(f"  {props}", style="magenta")
        nodes[parent].add(label)
    return nodes[""]
