"""Airflow's answers as our models (DAGs, runs, tasks, versions), its failures as our errors."""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from labcas_workflow_api.domain.errors import (
    NotFound,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.domain.models import (
    EngineVersion,
    Parameter,
    Run,
    RunStatus,
    TaskInstance,
    Workflow,
    WorkflowVersion,
)

STATES = {
    None: RunStatus.QUEUED,
    "": RunStatus.QUEUED,
    "queued": RunStatus.QUEUED,
    "running": RunStatus.RUNNING,
    "success": RunStatus.SUCCESS,
    "failed": RunStatus.FAILED,
}
#: The note a cancelled run carries; a finished run with it is one we cancelled: ``cancelled``
#: on every read, and answered again by a second cancel (idempotency).
CANCEL_NOTE = "Cancelled through the LabCAS Workflow API"
#: What Airflow 3 shows instead of a DAG file that the caller may not read in whole.
_REDACTED = "REDACTED - "


def engine_states(status: RunStatus | None) -> list[str]:
    """The Airflow run states holding the runs of ``status`` (and others: callers check): a
    cancelled run is ``failed``, or ``success`` when a racing scheduler finished it after."""
    if status is None:
        return []
    if status is RunStatus.CANCELLED:
        return ["failed", "success"]
    return [status.value]


def answer(response: httpx.Response, what: str) -> Any:
    """The JSON body of a 2xx answer; our error for anything else."""
    status = response.status_code
    if 200 <= status < 300:
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamBadResponse(f"Airflow sent an unreadable {what} answer") from exc
    if status == 404:
        raise NotFound(f"{what} not found in Airflow: {error_detail(response)}")
    if status == 503:
        raise UpstreamUnavailable(f"Airflow is unavailable (503): {error_detail(response)}")
    if status == 504:
        raise UpstreamTimeout(f"Airflow timed out (504): {error_detail(response)}")
    raise UpstreamBadResponse(f"Airflow answered {status} ({what}): {error_detail(response)}")


def error_detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if detail is None:
        return response.text[:300] or response.reason_phrase
    return detail if isinstance(detail, str) else json.dumps(detail)[:300]


def mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UpstreamBadResponse(f"Airflow sent a malformed {what}")
    return value


def ident(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise UpstreamBadResponse(f"Airflow sent a {what} without a valid id")
    return value


def timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise UpstreamBadResponse(f"Airflow sent an unreadable time {value!r}") from exc


def parameter(spec: Any) -> Parameter:
    """A param as Airflow 3 dumps it (``{"value", "schema", "description", "source"}``), as
    Airflow 2 does (``{"__class", "value", "schema", "description"}``), or a bare value."""
    if isinstance(spec, dict) and ({"value", "schema"} & spec.keys() or "__class" in spec):
        schema = spec.get("schema")
        description = spec.get("description")
        return Parameter(
            default=spec.get("value"),
            description=description if isinstance(description, str) else None,
            schema=dict(schema) if isinstance(schema, dict) else {},
        )
    return Parameter(default=spec)


def workflow(dag: dict[str, Any], *, with_params: bool = False) -> Workflow:
    params = dag.get("params") if with_params else None
    if params is not None and not isinstance(params, dict):
        raise UpstreamBadResponse("Airflow sent malformed DAG params")
    description = dag.get("description")
    schedule = dag.get("timetable_summary")  # Airflow 3; Airflow 2 has schedule_interval
    interval = dag.get("schedule_interval")
    if schedule is None and isinstance(interval, dict):
        schedule = interval.get("value")
    return Workflow(
        id=ident(dag.get("dag_id"), "DAG"),
        description=description if isinstance(description, str) else None,
        parameters={name: parameter(spec) for name, spec in (params or {}).items()},
        schedule=schedule if isinstance(schedule, str) else None,
        paused=bool(dag.get("is_paused")),
    )


def run(item: dict[str, Any]) -> Run:
    state = item.get("state")
    if state not in STATES:
        raise UpstreamBadResponse(f"Airflow sent an unknown run state {state!r}")
    conf = item.get("conf")
    status = STATES[state]
    if status.finished and cancelled_here(item):
        # A run cancelled here never succeeded, whatever a racing scheduler concluded.
        status = RunStatus.CANCELLED
    return Run(
        run_id=ident(item.get("dag_run_id"), "DAG run"),
        workflow_id=ident(item.get("dag_id"), "DAG run"),
        status=status,
        start_time=timestamp(item.get("start_date")),
        end_time=timestamp(item.get("end_date")),
        conf=dict(conf) if isinstance(conf, dict) else {},
        queued_at=timestamp(item.get("queued_at")),
    )


def cancelled_here(item: dict[str, Any]) -> bool:
    note = item.get("note")
    return isinstance(note, str) and note.startswith(CANCEL_NOTE)


def task_instance(item: dict[str, Any]) -> TaskInstance:
    state = item.get("state")
    if state is not None and not isinstance(state, str):
        raise UpstreamBadResponse(f"Airflow sent an unreadable task state {state!r}")
    duration = item.get("duration")
    try_number = item.get("try_number")
    map_index = item.get("map_index")
    return TaskInstance(
        task_id=ident(item.get("task_id"), "task instance"),
        state=state or None,
        start_time=timestamp(item.get("start_date")),
        end_time=timestamp(item.get("end_date")),
        duration=float(duration) if isinstance(duration, int | float) else None,
        try_number=try_number if isinstance(try_number, int) else 0,
        map_index=map_index if isinstance(map_index, int) else -1,
    )


def check_health(health: Any) -> None:
    """``UpstreamUnavailable`` unless Airflow's database and scheduler are healthy."""
    for component in ("metadatabase", "scheduler"):
        status = mapping(health, "health").get(component)
        if not isinstance(status, Mapping) or status.get("status") != "healthy":
            raise UpstreamUnavailable(f"Airflow {component} is not healthy")


def dag_order(answer: Any) -> list[str]:
    """The task ids of a task list answer in topological order (upstream first), ties broken
    by task id."""
    listed = mapping(answer, "task list").get("tasks")
    if not isinstance(listed, list):
        raise UpstreamBadResponse("Airflow task list has no 'tasks' list")
    tasks = [mapping(task, "task") for task in listed]
    ids = sorted(ident(t.get("task_id"), "task") for t in tasks)
    downstream: dict[str, list[str]] = {}
    upstream_count = dict.fromkeys(ids, 0)
    for task in tasks:
        targets = task.get("downstream_task_ids")
        following = [t for t in targets if t in upstream_count] if isinstance(targets, list) else []
        downstream[task["task_id"]] = following
        for target in following:
            upstream_count[target] += 1
    ready = [task_id for task_id in ids if upstream_count[task_id] == 0]  # sorted: a heap
    order: list[str] = []
    while ready:
        task_id = heapq.heappop(ready)
        order.append(task_id)
        for target in downstream.get(task_id, []):
            upstream_count[target] -= 1
            if upstream_count[target] == 0:
                heapq.heappush(ready, target)
    placed = set(order)
    return order + [task_id for task_id in ids if task_id not in placed]  # a cycle: by id


def in_dag_order(order: list[str], instances: list[TaskInstance]) -> list[TaskInstance]:
    """The instances sorted by ``order`` (unknown tasks last), plus a placeholder for each task
    of the DAG that has no instance yet."""
    rank = {task_id: i for i, task_id in enumerate(order)}
    present = {ti.task_id for ti in instances}
    waiting = [TaskInstance(task_id) for task_id in order if task_id not in present]
    return sorted(
        instances + waiting,
        key=lambda ti: (rank.get(ti.task_id, len(rank)), ti.task_id, ti.map_index),
    )


def engine_version(answer: dict[str, Any]) -> EngineVersion:
    version = answer.get("version")
    if not isinstance(version, str) or not version:
        raise UpstreamBadResponse("Airflow sent a version answer without a version")
    return EngineVersion("Apache Airflow", version, "https://airflow.apache.org/")


def text(value: Any) -> str | None:
    """A non-empty string of an answer, else None."""
    return value if isinstance(value, str) and value else None


def used_by(run: dict[str, Any]) -> tuple[int, str | None, str | None] | None:
    """The DAG version an Airflow 3 run used (the latest one it names): its number, bundle name
    and bundle version; None when the run names none."""
    versions = run.get("dag_versions")
    found = [
        v
        for v in (versions if isinstance(versions, list) else [])
        if isinstance(v, dict) and isinstance(v.get("version_number"), int)
    ]
    if not found:
        return None
    used = max(found, key=lambda v: v["version_number"])
    return used["version_number"], text(used.get("bundle_name")), text(used.get("bundle_version"))


def workflow_version(workflow_id: str, source: str | None, **facts: Any) -> WorkflowVersion:
    """A ``WorkflowVersion`` with ``source`` and its SHA-256 (neither for a redacted source)."""
    if source is not None and source.startswith(_REDACTED):
        source = None
    digest = hashlib.sha256(source.encode()).hexdigest() if source is not None else None
    return WorkflowVersion(workflow_id, source=source, source_sha256=digest, **facts)
