"""Rich renderings of the API's answers for the command line."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from labcas_workflow_api.client.models import (
    DataSelection,
    OutputListing,
    RunInfo,
    WorkflowDetail,
    WorkflowSummary,
    parse_time,
)

STATUS_STYLE = {
    "queued": "yellow",
    "running": "cyan",
    "success": "green",
    "failed": "red",
    "upstream_failed": "red",
    "skipped": "dim",
}


def when(value: str | None) -> str:
    """A timestamp in local time, to the second."""
    parsed = parse_time(value)
    return parsed.astimezone().strftime("%Y-%m-%d %H:%M:%S") if parsed else ""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def status(value: str | None) -> Text:
    text = value or "unknown"
    return Text(text, style=STATUS_STYLE.get(text, ""))


def data_selections(items: list[DataSelection]) -> Table:
    table = Table("Data selection", "Description", title="Data selections you may use")
    for item in items:
        table.add_row(Text(item.id), Text(item.description or ""))
    return table


def workflows(items: list[WorkflowSummary], data_selection: str | None) -> Table:
    title = f"Workflows for {data_selection}" if data_selection else "Workflows you may run"
    table = Table("Workflow", "Description", title=Text(title))
    for item in items:
        table.add_row(Text(item.id), Text(item.description or ""))
    return table


def workflow(detail: WorkflowDetail) -> list[Any]:
    head = Text()
    head.append(detail.id, style="bold")
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
    for spec in detail.parameters.values():
        kind = " or ".join(spec.types) or "any"
        default = "" if spec.default is None else json.dumps(spec.default)
        table.add_row(
            Text(spec.name),
            Text(kind),
            Text(default),
            Text(spec.bounds_text()),
            Text(spec.description or ""),
        )
    parts.append(table if detail.parameters else Text("No parameters."))
    return parts


def runs(items: list[RunInfo], workflow_id: str) -> Table:
    table = Table(title=Text(f"Your runs of {workflow_id}"))
    table.add_column("Run", overflow="fold")
    for name in ("Status", "Started", "Ended", "Duration"):
        table.add_column(name, no_wrap=True)
    for run in items:
        table.add_row(
            Text(run.run_id),
            status(run.status),
            when(run.start_time),
            when(run.end_time),
            duration(run.duration),
        )
    return table


def run(info: RunInfo) -> list[Any]:
    head = Text()
    head.append(f"{info.workflow_id} ", style="bold")
    head.append(info.run_id)
    head.append("  ")
    head.append_text(status(info.status))
    lines: list[Any] = [head]
    for label, value in (
        ("Started", when(info.start_time)),
        ("Ended", when(info.end_time)),
        ("Duration", duration(info.duration)),
        ("Progress", info.progress_text() or ""),
        ("Outputs", info.output_url or ""),
    ):
        if value:
            lines.append(Text(f"{label}: {value}"))
    params = {k: v for k, v in info.conf.items() if k != "in_data_selection"}
    if "in_data_selection" in info.conf:
        lines.append(Text(f"Data selection: {info.conf['in_data_selection']}"))
    if params:
        lines.append(
            Text("Parameters: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items()))
        )
    if info.tasks is not None:
        table = Table("Task", "State", "Started", "Ended", "Duration", "Try", title="Tasks")
        for task in info.tasks:
            table.add_row(
                Text(task.task_id),
                status(task.state),
                when(task.start_time),
                when(task.end_time),
                duration(task.duration),
                "" if task.try_number is None else str(task.try_number),
            )
        lines.append(table)
    return lines


def outputs(listing: OutputListing) -> Table:
    where = "/" + listing.path if listing.path else "/ (your outputs)"
    table = Table("Name", "Size", "Modified", "Properties", title=Text(where))
    for folder in listing.folders:
        table.add_row(Text(folder.name.rstrip("/") + "/", style="bold blue"), "", "", "")
    for entry in listing.files:
        props = ", ".join(f"{k}={v}" for k, v in entry.properties.items())
        table.add_row(Text(entry.name), size(entry.size), when(entry.last_modified), Text(props))
    return table


def tree_node(label: str) -> Tree:
    return Tree(Text(label, style="bold blue"))


def tree_file(node: Tree, name: str, n: int | None, props: dict[str, str]) -> None:
    label = Text(name)
    label.append(f"  {size(n)}", style="dim")
    if props:
        label.append("  " + ", ".join(f"{k}={v}" for k, v in props.items()), style="magenta")
    node.add(label)


def stamp(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
