"""In-memory fakes of our ports, and a test app built on them."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labcas_workflow_api.domain.errors import Conflict, LabcasError, NotFound, PreconditionFailed
from labcas_workflow_api.domain.models import (
    EngineVersion,
    Fetched,
    Listing,
    ObjectInfo,
    Parameter,
    Run,
    RunStatus,
    TaskInstance,
    Workflow,
    WorkflowVersion,
    Write,
)

STAGING = "labcas-staging"
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
#: The source of the fake DAG ``nebraska_demo`` (``FakeEngine.workflow_version``).
DEMO_SOURCE = "from airflow.sdk import dag\n\n\n@dag()\ndef nebraska_demo() -> None: ...\n"


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

    def list_user_runs(
        self,
        workflow_ids: Collection[str],
        *,
        username: str,
        run_id_prefix: str,
        status: RunStatus | None = None,
    ) -> list[Run]:
        self.calls.append(("list_user_runs", tuple(sorted(workflow_ids)), run_id_prefix, status))
        return [
            r for (w, _), r in self.runs.items() if w in workflow_ids and status in (None, r.status)
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
        self.finish(workflow_id, run_id, RunStatus.CANCELLED)
        return self.runs[(workflow_id, run_id)]

    def engine_version(self) -> EngineVersion:
        self.calls.append(("engine_version",))
        return EngineVersion("Apache Airflow", "3.3.2", "https://airflow.apache.org/")

    def workflow_version(self, workflow_id: str, run_id: str) -> WorkflowVersion:
        self.calls.append(("workflow_version", workflow_id, run_id))
        self.get_workflow(workflow_id)
        self.get_run(workflow_id, run_id)
        return WorkflowVersion(
            workflow_id,
            version="2",
            source=DEMO_SOURCE,
            source_sha256=hashlib.sha256(DEMO_SOURCE.encode()).hexdigest(),
            file_name=f"{workflow_id}.py",
            bundle_name="dags-folder",
        )

    def finish(self, workflow_id: str, run_id: str, status: RunStatus) -> None:
        run = self.runs[(workflow_id, run_id)]
        self.runs[(workflow_id, run_id)] = replace(
            run, status=status, start_time=run.queued_at, end_time=datetime.now(UTC)
        )

    def ping(self) -> None:
        self.calls.append(("ping",))


class FakeStore:
    """The staging store in memory, with S3's semantics where the service relies on them:
    one level per listing (delimiter ``/``), folder placeholders left out, ``start_after``
    and ``limit``, MD5 ETags, conditional writes (unless ``conditional_writes`` is False: a
    store that ignores them). ``calls`` counts the calls, ``fetched`` and ``puts`` name the
    keys read by ``get_many`` and written; ``before_reads`` / ``before_writes`` run once,
    between a call's arrival and its reads or writes (another writer coming in between)."""

    def __init__(self, *, conditional_writes: bool = True) -> None:
        self.objects: dict[str, dict[str, tuple[bytes, datetime]]] = {}
        self.conditional_writes = conditional_writes
        self.calls: Counter[str] = Counter()
        self.fetched: list[str] = []
        self.puts: list[str] = []
        self.before_reads: list[Callable[[], None]] = []
        self.before_writes: list[Callable[[], None]] = []
        self.lock = threading.Lock()

    def add(self, key: str, body: bytes = b"data", *, bucket: str = STAGING) -> None:
        """Seed an object (as a workflow writing its outputs would)."""
        self.objects.setdefault(bucket, {})[key] = (body, datetime(2026, 1, 1, tzinfo=UTC))

    def body(self, key: str, *, bucket: str = STAGING) -> bytes:
        return self.objects[bucket][key][0]

    def etag(self, key: str, *, bucket: str = STAGING) -> str:
        return hashlib.md5(self.body(key, bucket=bucket)).hexdigest()

    def _info(self, bucket: str, key: str) -> ObjectInfo:
        body, when = self.objects[bucket][key]
        return ObjectInfo(key, len(body), when, hashlib.md5(body).hexdigest())

    def list(
        self, bucket: str, prefix: str, *, start_after: str | None = None, limit: int = 1000
    ) -> Listing:
        self.calls["list"] += 1
        entries: dict[str, ObjectInfo | None] = {}
        for key in sorted(self.objects.get(bucket, {})):
            if not key.startswith(prefix) or key == prefix:
                continue  # the folder's own placeholder
            rest = key[len(prefix) :]
            if "/" in rest:
                entries.setdefault(prefix + rest.split("/", 1)[0] + "/", None)
            else:
                entries[key] = self._info(bucket, key)
        ordered = [k for k in sorted(entries) if start_after is None or k > start_after]
        shown = ordered[:limit]
        return Listing(
            [k for k in shown if entries[k] is None],
            [info for k in shown if (info := entries[k]) is not None],
            truncated=len(ordered) > limit,
        )

    def presign_get(self, bucket: str, key: str, ttl: int) -> str:
        self.calls["presign"] += 1
        return f"https://s3.example/{bucket}/{key}?ttl={ttl}&n={self.calls['presign']}"

    def head_many(self, bucket: str, keys: list[str]) -> dict[str, ObjectInfo]:
        self.calls["head_many"] += 1
        self.calls["head"] += len(keys)
        return {k: self._info(bucket, k) for k in keys if k in self.objects.get(bucket, {})}

    def get_many(self, bucket: str, keys: list[str]) -> dict[str, Fetched]:
        self.calls["get_many"] += 1
        self.fetched += keys
        while self.before_reads:
            self.before_reads.pop(0)()
        found = self.objects.get(bucket, {})
        return {k: Fetched(found[k][0], self.etag(k, bucket=bucket)) for k in keys if k in found}

    def put_many(self, bucket: str, writes: list[Write]) -> dict[str, LabcasError | None]:
        self.calls["put_many"] += 1
        while self.before_writes:
            self.before_writes.pop(0)()
        outcomes: dict[str, LabcasError | None] = {}
        for write in writes:
            with self.lock:
                outcomes[write.key] = self._put(bucket, write)
        return outcomes

    def _put(self, bucket: str, write: Write) -> LabcasError | None:
        if self.conditional_writes:
            exists = write.key in self.objects.get(bucket, {})
            current = self.etag(write.key, bucket=bucket) if exists else None
            if write.if_none_match and current is not None:
                return PreconditionFailed(f"{write.key} exists")
            if write.if_match is not None and current != write.if_match:
                return PreconditionFailed(f"{write.key} changed")
        self.calls["put"] += 1
        self.puts.append(write.key)
        self.objects.setdefault(bucket, {})[write.key] = (write.body, datetime.now(UTC))
        return None

    def ping(self, bucket: str) -> None:
        self.calls["ping"] += 1


def write_config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "access.yml"
    path.write_text(text)
    return path
