"""In-memory fakes of our ports, and a test app built on them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labcas_workflow_api.domain.errors import Conflict, NotFound
from labcas_workflow_api.domain.models import (
    Fetched,
    Listing,
    ObjectInfo,
    Parameter,
    Run,
    RunStatus,
    TaskInstance,
    Workflow,
)

SECRET = "unit-test-secret-0123456789abcdef-0123456789abcdef"

CONFIG = """
collections:
  nebraska_images:
    bucket: edrn-data
    prefix: nebraska_images/
    description: Nebraska microscopy images
    workflows:
      nebraska_demo:
        authorized_users: [thomas, dliu]
      undeployed_dag:
        authorized_users: [thomas]
  other/images:
    bucket: edrn-data
    prefix: other/
    workflows:
      nebraska_demo:
        authorized_users: [dliu]
      paused_dag:
        authorized_users: [thomas]
  private:
    bucket: secret-data
    workflows:
      nebraska_demo:
        authorized_users: [eve]
"""

DEMO = Workflow(
    id="nebraska_demo",
    description="Nuclei detection demo",
    parameters={
        "tile_size": Parameter(64, "Tile edge in pixels", {"type": "integer", "minimum": 8}),
        "threshold_method": Parameter(
            "otsu", "Threshold", {"type": "string", "enum": ["otsu", "li", "yen"]}
        ),
    },
    schedule=None,
)


class FakeEngine:
    """Workflows and runs in memory; ``calls`` records what was asked."""

    def __init__(self, workflows: list[Workflow] | None = None) -> None:
        self.workflows = {
            w.id: w
            for w in workflows
            or [DEMO, Workflow("paused_dag", paused=True), Workflow("unlisted_dag")]
        }
        self.runs: dict[tuple[str, str], Run] = {}
        self.tasks: dict[tuple[str, str], list[TaskInstance]] = {}
        self.logs: dict[tuple[str, str, str, int, int], bytes] = {}
        self.cancelled: set[tuple[str, str]] = set()
        self.calls: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()

    def list_workflows(self) -> list[Workflow]:
        self.calls.append(("list_workflows",))
        return list(self.workflows.values())

    def get_workflow(self, workflow_id: str) -> Workflow:
        self.calls.append(("get_workflow", workflow_id))
        if workflow_id not in self.workflows:
            raise NotFound(f"no workflow {workflow_id}")
        return self.workflows[workflow_id]

    def trigger_run(self, workflow_id: str, run_id: str, conf: dict[str, Any]) -> Run:
        self.calls.append(("trigger_run", workflow_id, run_id))
        with self.lock:
            if (workflow_id, run_id) in self.runs:
                raise Conflict(f"run {run_id} exists")
            run = Run(
                run_id, workflow_id, RunStatus.QUEUED, conf=dict(conf), queued_at=datetime.now(UTC)
            )
            self.runs[(workflow_id, run_id)] = run
            return run

    def list_runs(
        self,
        workflow_id: str,
        *,
        username: str,
        run_id_prefix: str,
        status: RunStatus | None = None,
    ) -> list[Run]:
        self.calls.append(("list_runs", workflow_id, run_id_prefix, status))
        return [
            r for (w, _), r in self.runs.items() if w == workflow_id and status in (None, r.status)
        ]

    def get_run(self, workflow_id: str, run_id: str) -> Run:
        self.calls.append(("get_run", workflow_id, run_id))
        try:
            return self.runs[(workflow_id, run_id)]
        except KeyError:
            raise NotFound(f"run {run_id} not found") from None

    def list_tasks(self, workflow_id: str, run_id: str) -> list[TaskInstance]:
        self.calls.append(("list_tasks", workflow_id, run_id))
        self.get_run(workflow_id, run_id)
        return list(self.tasks.get((workflow_id, run_id), []))

    def task_log(
        self, workflow_id: str, run_id: str, task_id: str, try_number: int, *, map_index: int = -1
    ) -> Iterator[bytes]:
        self.calls.append(("task_log", workflow_id, run_id, task_id, try_number, map_index))
        text = self.logs.get((workflow_id, run_id, task_id, try_number, map_index))
        if text is None:
            raise NotFound(f"no log of {task_id} try {try_number}")
        return iter([text[: len(text) // 2], text[len(text) // 2 :]])

    def cancel_run(self, workflow_id: str, run_id: str, *, by: str) -> Run:
        self.calls.append(("cancel_run", workflow_id, run_id, by))
        run = self.get_run(workflow_id, run_id)
        if run.status.finished:
            if (workflow_id, run_id) in self.cancelled:
                return run
            raise Conflict(f"run {run_id} already finished")
        self.cancelled.add((workflow_id, run_id))
        self.finish(workflow_id, run_id, RunStatus.FAILED)
        return self.runs[(workflow_id, run_id)]

    def finish(self, workflow_id: str, run_id: str, status: RunStatus) -> None:
        run = self.runs[(workflow_id, run_id)]
        self.runs[(workflow_id, run_id)] = replace(
            run, status=status, start_time=run.queued_at, end_time=datetime.now(UTC)
        )

    def ping(self) -> None:
        self.calls.append(("ping",))


class FakeStore:
    """An object store in memory: {bucket: {key: bytes}}."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, tuple[bytes, datetime]]] = {}
        self.calls: list[tuple[Any, ...]] = []

    def put(self, bucket: str, key: str, body: bytes, content_type: str = "text/plain") -> None:
        self.calls.append(("put", bucket, key))
        self.objects.setdefault(bucket, {})[key] = (body, datetime.now(UTC))

    def _info(self, key: str, body: bytes, when: datetime) -> ObjectInfo:
        return ObjectInfo(key, len(body), when, etag=str(hash(body)))

    def list(
        self, bucket: str, prefix: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Listing:
        self.calls.append(("list", bucket, prefix))
        prefixes: set[str] = set()
        objects = []
        for key, (body, when) in sorted(self.objects.get(bucket, {}).items()):
            if not key.startswith(prefix) or (cursor and key <= cursor):
                continue
            rest = key[len(prefix) :]
            if "/" in rest:
                prefixes.add(prefix + rest.split("/", 1)[0] + "/")
            else:
                objects.append(self._info(key, body, when))
        return Listing(sorted(prefixes), objects)

    def presign_get(self, bucket: str, key: str, ttl: int) -> str:
        return f"https://s3.example/{bucket}/{key}?ttl={ttl}"

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        found = self.objects.get(bucket, {}).get(key)
        return self._info(key, *found) if found else None

    def get(self, bucket: str, key: str) -> bytes:
        self.calls.append(("get", bucket, key))
        found = self.objects.get(bucket, {}).get(key)
        if found is None:
            raise NotFound(f"no object {key}")
        return found[0]

    def get_many(self, bucket: str, keys: list[str]) -> dict[str, Fetched]:
        self.calls.append(("get_many", bucket, len(keys)))
        bucket_objects = self.objects.get(bucket, {})
        return {
            k: Fetched(bucket_objects[k][0], str(hash(bucket_objects[k][0])))
            for k in keys
            if k in bucket_objects
        }

    def ping(self, bucket: str) -> None:
        self.calls.append(("ping", bucket))


def write_config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "access.yml"
    path.write_text(text)
    return path
