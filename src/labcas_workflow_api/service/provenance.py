"""A run's provenance (who ran which workflow version, on which engine, data and parameters,
and every file it wrote), gathered for its owner only from the engine and the staging store."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from urllib.parse import quote

from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.access import AccessConfig
from labcas_workflow_api.domain.models import (
    EngineVersion,
    ObjectInfo,
    Run,
    Workflow,
    WorkflowVersion,
)
from labcas_workflow_api.service.run_conf import output_path
from labcas_workflow_api.service.runs import RunService
from labcas_workflow_api.storage.base import StagingStore

#: The most output files a record lists; past it, it says that the folder holds more.
MAX_FILES = 20_000
#: Sidecars read at once: at most 64 times ``sidecar.MAX_SIDECAR_BYTES`` (16 MiB) in memory.
_SIDECAR_BATCH = 64
#: The sidecar bytes one record reads before it stops reading them (20,000 full sidecars
#: would be 5 GB): at most this plus one batch are held; files past it are listed without
#: their properties, and the record says so.
MAX_PROPERTY_BYTES = 16 * 1024 * 1024
_LIST_PAGE = 1000
#: Media types by file name: Python's own table only (the host's files differ between hosts).
_MEDIA_TYPES = mimetypes.MimeTypes()


def workflow_path(workflow_id: str) -> str:
    return f"/workflows/{quote(workflow_id, safe='')}"


def run_path(workflow_id: str, run_id: str) -> str:
    return f"{workflow_path(workflow_id)}/runs/{quote(run_id, safe='')}"


def crate_path(workflow_id: str, run_id: str) -> str:
    """The API path of a run's RO-Crate (``?format=zip`` for the zip), for any link to it."""
    return f"{run_path(workflow_id, run_id)}/ro-crate"


def media_type(name: str) -> str:
    """The media type a file name suggests; ``application/octet-stream`` when it suggests none."""
    guessed, _ = _MEDIA_TYPES.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


@dataclass(frozen=True)
class DataSelection:
    """The data a run read: the data selection's id, where it lives, its description."""

    id: str
    bucket: str
    prefix: str
    description: str | None = None

    @property
    def uri(self) -> str:
        """``s3://bucket/prefix/`` (a folder's URI ends with ``/``)."""
        prefix = self.prefix.strip("/")
        return f"s3://{self.bucket}/{quote(prefix)}/" if prefix else f"s3://{self.bucket}/"


@dataclass(frozen=True)
class OutputFile:
    """A file the run wrote: its key in ``bucket``, its path in the run's folder, and its
    metadata sidecar's properties."""

    bucket: str
    key: str
    path: str
    size: int
    last_modified: datetime
    etag: str
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{quote(self.key)}"


@dataclass(frozen=True)
class Outputs:
    """The run's folder: ``path`` relative to its owner's area (None when the run has none),
    ``prefix`` its key prefix in ``bucket``; its files in key order. ``complete`` is False
    when the folder holds more than ``MAX_FILES`` files (the first ones are listed)."""

    bucket: str
    path: str | None
    prefix: str
    files: list[OutputFile]
    complete: bool = True
    properties_complete: bool = True  # False: past ``MAX_PROPERTY_BYTES``, none were read

    @property
    def uri(self) -> str | None:
        return None if self.path is None else f"s3://{self.bucket}/{quote(self.prefix)}"


@dataclass(frozen=True)
class RunFacts:
    """What the engine and the access config say of a run."""

    username: str
    run: Run
    workflow: Workflow
    version: WorkflowVersion
    engine: EngineVersion
    data: DataSelection | None


@dataclass(frozen=True)
class RunRecord:
    """Everything a run's provenance holds, and when it was gathered."""

    facts: RunFacts
    outputs: Outputs
    gathered: datetime


class ProvenanceService:
    """Gather a caller's run's provenance: ``facts`` from the engine (``NotFound`` as
    ``RunService.get``), ``outputs`` from the run's folder in ``bucket``; both raise the ports'
    ``UpstreamError`` subclasses."""

    def __init__(
        self,
        runs: RunService,
        store: StagingStore,
        bucket: str,
        *,
        access: Callable[[], AccessConfig],
        max_files: int = MAX_FILES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runs = runs
        self.engine = runs.engine
        self.store = store
        self.bucket = bucket
        self.access = access
        self.max_files = max_files
        self.clock = clock

    def facts(self, username: str, workflow_id: str, run_id: str) -> RunFacts:
        run = self.runs.get(username, workflow_id, run_id)
        workflow = self.engine.get_workflow(workflow_id)
        version = self.engine.workflow_version(workflow_id, run_id)
        return RunFacts(
            username, run, workflow, version, self.engine.engine_version(), self._data(run)
        )

    def _data(self, run: Run) -> DataSelection | None:
        """The data selection as the run was given it (its conf keeps where the data was)."""
        name, bucket = run.conf.get("in_data_selection"), run.conf.get("in_bucket")
        prefix = run.conf.get("in_prefix", "")
        if not (isinstance(name, str) and isinstance(bucket, str) and isinstance(prefix, str)):
            return None
        collection = self.access().collections.get(name)
        description = collection.description if collection is not None else None
        return DataSelection(name, bucket, prefix, description)

    def outputs(self, run: Run) -> Outputs:
        """The files under the run's folder (sidecars aside), at most ``max_files``."""
        owner = run.conf.get("username")
        path = output_path(run)
        if path is None or not isinstance(owner, str):
            return Outputs(self.bucket, None, "", [])
        prefix = f"{owner}/{path}"
        infos, complete = self._walk(prefix)
        keys = {info.key for info in infos}
        data = [i for i in infos if not _is_sidecar(i.key, keys)]
        complete = complete and len(data) <= self.max_files
        data = data[: self.max_files]
        with_sidecar = [i.key for i in data if sidecar.sidecar_key(i.key) in keys]
        properties, all_read = self._properties(with_sidecar)
        files = [
            OutputFile(
                self.bucket,
                info.key,
                info.key[len(prefix) :],
                info.size,
                info.last_modified,
                info.etag,
                properties.get(info.key, {}),
            )
            for info in data
        ]
        return Outputs(self.bucket, path, prefix, files, complete, all_read)

    def record(self, facts: RunFacts, outputs: Outputs) -> RunRecord:
        return RunRecord(facts, outputs, self.clock())

    def _walk(self, prefix: str) -> tuple[list[ObjectInfo], bool]:
        """The objects under ``prefix`` in key order, folder after folder; False when there
        are more than twice ``max_files`` (sidecars count)."""
        found: list[ObjectInfo] = []
        limit = 2 * self.max_files + 1
        folders = [prefix]
        while folders:
            folder = folders.pop(0)
            after: str | None = None
            nested: list[str] = []
            while True:
                listing = self.store.list(self.bucket, folder, start_after=after, limit=_LIST_PAGE)
                nested += listing.prefixes
                found += listing.objects
                if len(found) >= limit:
                    return sorted(found, key=attrgetter("key"))[: limit - 1], False
                keys = [*listing.prefixes, *(o.key for o in listing.objects)]
                if not listing.truncated or not keys:
                    break
                after = max(keys)
            folders = sorted(nested) + folders
        return sorted(found, key=attrgetter("key")), True

    def _properties(self, data_keys: list[str]) -> tuple[dict[str, dict[str, str]], bool]:
        """The sidecar properties of each data file that has a sidecar, batch after batch
        until ``MAX_PROPERTY_BYTES`` of sidecars were read; whether every one was read."""
        found: dict[str, dict[str, str]] = {}
        read_bytes = 0
        for start in range(0, len(data_keys), _SIDECAR_BATCH):
            if read_bytes >= MAX_PROPERTY_BYTES:
                return found, False
            batch = {sidecar.sidecar_key(k): k for k in data_keys[start : start + _SIDECAR_BATCH]}
            read = self.store.get_many(self.bucket, list(batch))
            for key, fetched in read.items():
                read_bytes += len(fetched.body)
                data_key = batch[key]
                name = data_key.rpartition("/")[2]
                values = sidecar.parse(fetched.body, name, where=key)
                if values:
                    found[data_key] = values
        return found, True


def _is_sidecar(key: str, keys: set[str]) -> bool:
    return key.endswith(sidecar.SUFFIX) and key[: -len(sidecar.SUFFIX)] in keys
