"""WES answers built from our runs and task instances (``wire/wes.py`` holds their models)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from labcas_workflow_api.domain.models import Run, TaskInstance
from labcas_workflow_api.http.deps import Links
from labcas_workflow_api.http.wes import ids
from labcas_workflow_api.http.wes.submit import WORKFLOW_TYPE
from labcas_workflow_api.service.run_conf import TAGS_KEY, output_path, public_conf
from labcas_workflow_api.service.runs import RunDetail
from labcas_workflow_api.wire import wes

BASE = "/ga4gh/wes/v1"


def tags_of(run: Run) -> dict[str, str]:
    """The tags a WES client gave the run (text values only)."""
    tags = run.conf.get(TAGS_KEY)
    if not isinstance(tags, dict):
        return {}
    return {k: v for k, v in tags.items() if isinstance(k, str) and isinstance(v, str)}


def summary(run: Run) -> wes.WesRunSummary:
    return wes.WesRunSummary(
        run_id=ids.run_id(run.workflow_id, run.run_id),
        state=wes.wes_state(run.status),
        start_time=run.start_time,
        end_time=run.end_time,
        tags=tags_of(run),
    )


def run_log(detail: RunDetail, links: Links, type_version: str) -> wes.WesRunLog:
    """The run log; ``type_version``: the Airflow major version it runs on."""
    run = detail.run
    wes_id = ids.run_id(run.workflow_id, run.run_id)
    params = {k: v for k, v in public_conf(run.conf).items() if k != TAGS_KEY}
    request = wes.WesRunRequest(
        workflow_url=links.to(f"/workflows/{quote(run.workflow_id, safe='')}"),
        workflow_type=WORKFLOW_TYPE,
        workflow_type_version=type_version,
        workflow_params=params,
        tags=tags_of(run),
    )
    system = [f"status: {run.status.value}", f"run: {links.run(run.workflow_id, run.run_id)}"]
    return wes.WesRunLog(
        run_id=wes_id,
        request=request,
        state=wes.wes_state(run.status),
        run_log=wes.WesLog(
            name=run.workflow_id,
            start_time=run.start_time,
            end_time=run.end_time,
            system_logs=system,
        ),
        task_logs_url=links.to(f"{BASE}/runs/{wes_id}/tasks"),
        task_logs=None,
        outputs=outputs(run, links),
    )


def outputs(run: Run, links: Links) -> dict[str, str]:
    """Where the run's outputs are: its folder and listing (when it names one), its
    provenance record, and its pages."""
    found: dict[str, Any] = {}
    folder = output_path(run)
    if folder:
        found |= {"output_folder": folder, "output_url": links.output(folder)}
    found["ro_crate_url"] = links.run(run.workflow_id, run.run_id) + "/ro-crate"
    found["run_url"] = links.run(run.workflow_id, run.run_id)
    web = links.web("run", run.workflow_id, run.run_id)
    if web:
        found["web_url"] = web
    return found


def task_log(run: Run, task: TaskInstance, links: Links) -> wes.WesTaskLog:
    """One task instance; its log URL once it has run (a try to read)."""
    log = None
    if task.try_number >= 1:
        path = links.run(run.workflow_id, run.run_id).removeprefix(links.base)
        query: dict[str, str | int | None] = {"try": task.try_number}
        if task.map_index >= 0:
            query["map_index"] = task.map_index
        log = links.to(f"{path}/tasks/{quote(task.task_id, safe='')}/logs", **query)
    system = [f"airflow state: {task.state or 'none'}", f"try: {task.try_number}"]
    return wes.WesTaskLog(
        id=ids.task_id(task.task_id, task.map_index),
        name=task.task_id,
        state=wes.wes_state(task.state),
        start_time=task.start_time,
        end_time=task.end_time,
        stdout=log,
        stderr=log,
        system_logs=system,
    )
