"""A task's log out of a run's task instances: the try and map indexes asked for, each map
index's log in turn for a mapped task."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from labcas_workflow_api.domain.errors import LabcasError, NotFound
from labcas_workflow_api.domain.models import TaskInstance
from labcas_workflow_api.engines.base import WorkflowEngine
from labcas_workflow_api.service.log_pages import LogPage


def open_log(
    engine: WorkflowEngine,
    workflow_id: str,
    run_id: str,
    task_id: str,
    tasks: list[TaskInstance],
    *,
    try_number: int | None = None,
    map_index: int | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> LogPage:
    """The log of ``task_id`` among the run's ``tasks``: the latest try unless ``try_number``
    is given, each map index's log in turn unless ``map_index`` picks one. NotFound for an
    unknown task, map index or try, or a task that has not started, before anything is read.
    """
    instances = [t for t in tasks if t.task_id == task_id]
    if not instances:
        raise NotFound(f"task {task_id!r} not found in run {run_id!r}")
    if map_index is not None:
        instances = [t for t in instances if t.map_index == map_index]
        if not instances:
            raise NotFound(f"task {task_id!r} has no map index {map_index}")
    if try_number is not None:
        instances = [t for t in instances if t.try_number >= try_number]
        if not instances:
            raise NotFound(f"task {task_id!r} has no try {try_number}")
    parts = [(t, try_number if try_number is not None else t.try_number) for t in instances]
    if all(t.state is None and number == 0 for t, number in parts):
        raise NotFound(f"task {task_id!r} has not started: there is no log yet")
    task, number = parts[0]
    try:
        first = engine.task_log(workflow_id, run_id, task_id, number, map_index=task.map_index)
    except NotFound as exc:  # the engine's own words may quote its answer
        raise NotFound(f"log of task {task_id!r} not found", internal=exc.detail) from None
    if len(parts) == 1:
        return LogPage(first, offset=offset, limit=limit, try_number=number)
    chunks = _mapped_log(engine, workflow_id, run_id, parts, first)
    return LogPage(chunks, offset=offset, limit=limit, try_number=try_number)


def _mapped_log(
    engine: WorkflowEngine,
    workflow_id: str,
    run_id: str,
    parts: Sequence[tuple[TaskInstance, int]],
    first: Iterator[bytes],
) -> Iterator[bytes]:
    """The logs of several map indexes of a task (the first one already opened), each after a
    heading line; a log that cannot be read is noted in the text."""
    for i, (task, number) in enumerate(parts):
        yield f"--- {task.task_id}, map index {task.map_index}, try {number} ---\n".encode()
        if i == 0:
            yield from first
            continue
        try:
            chunks = engine.task_log(
                workflow_id, run_id, task.task_id, number, map_index=task.map_index
            )
        except LabcasError as exc:  # its detail may quote the engine: the kind only
            yield f"[no log: {exc.title.lower()}]\n".encode()
            continue
        yield from chunks
