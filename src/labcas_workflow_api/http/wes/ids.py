"""WES ids: a run as ``<workflow_id>~<run_id>`` (our run ids are unique per workflow only), a
task instance as ``<task_id>[~<map_index>]``.

Workflow and task ids never hold ``~``, so the first ``~`` splits a WES id, and ``~`` is
unreserved in a URL path (RFC 3986). An id that does not decode is None (a 404)."""

from __future__ import annotations

import re

from labcas_workflow_api.http import deps

SEPARATOR = "~"
NAME = re.compile(deps.NAME)
_RUN = re.compile(deps.RUN)
_MAP_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")


def run_id(workflow_id: str, run: str) -> str:
    """The WES id of run ``run`` of ``workflow_id``."""
    return f"{workflow_id}{SEPARATOR}{run}"


def parse_run_id(wes_id: str) -> tuple[str, str] | None:
    """(workflow id, run id) of a WES run id; None for one ``run_id`` did not make."""
    workflow_id, separator, run = wes_id.partition(SEPARATOR)
    if not separator or not NAME.fullmatch(workflow_id) or not _RUN.fullmatch(run):
        return None
    return workflow_id, run


def task_id(task: str, map_index: int) -> str:
    """The WES id of a task instance (``map_index`` -1: not mapped)."""
    return task if map_index < 0 else f"{task}{SEPARATOR}{map_index}"


def parse_task_id(wes_id: str) -> tuple[str, int] | None:
    """(task id, map index) of a WES task id; None for one ``task_id`` did not make."""
    task, separator, index = wes_id.partition(SEPARATOR)
    if not NAME.fullmatch(task) or (separator and not _MAP_INDEX.fullmatch(index)):
        return None
    return task, int(index) if separator else -1
