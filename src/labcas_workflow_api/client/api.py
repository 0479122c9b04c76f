"""``LabcasClient``: one method per call of the LabCAS Workflow API (over ``Transport``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from labcas_workflow_api import wire
from labcas_workflow_api.client.downloads import fetch_file, safe_relative
from labcas_workflow_api.client.log_pages import read_log
from labcas_workflow_api.client.models import DownloadResult
from labcas_workflow_api.client.transport import (
    ClientError,
    Transport,
    segment,
)

__all__ = ["ClientError", "LabcasClient", "clean_path"]
_MERGE_ATTEMPTS = 3


def clean_path(path: str) -> str:
    """An output-data path without leading/trailing slashes (``""`` for the root)."""
    return "/".join(p for p in path.strip().split("/") if p)


class LabcasClient:
    """A typed client of the LabCAS Workflow API.

    ``api_url`` is the API base (e.g. ``http://127.0.0.1:8000`` or ``https://host/dev``);
    ``token`` a LabCAS JWT sent as ``Authorization: Bearer``. Every method raises
    ``ClientError`` on an error answer or when the API cannot be reached.
    """

    def __init__(
        self,
        api_url: str,
        token: str | None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._transport = Transport(api_url, token, http=http, timeout=timeout)
        self.api_url = self._transport.api_url

    def __repr__(self) -> str:
        token = "***" if self._transport.token else None
        return f"LabcasClient({self.api_url!r}, token={token})"

    def __enter__(self) -> LabcasClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def url(self, path: str) -> str:
        return self._transport.url(path)

    # -- discovery --------------------------------------------------------------------------

    def data_selections(self) -> list[wire.Entry]:
        """The data selections the caller may run at least one workflow on."""
        return self._transport.get(
            wire.DataSelectionList, "GET", "/data-selections"
        ).data_selections

    def workflows(self, data_selection: str | None = None) -> list[wire.Entry]:
        """Workflows the caller may run, on one data selection or on any."""
        if data_selection is None:
            return self._transport.get(wire.WorkflowList, "GET", "/workflows").workflows
        params = {"data_id": data_selection}
        path = "/data-selections/workflows"
        return self._transport.get(wire.WorkflowList, "GET", path, params=params).workflows

    def workflow(self, workflow_id: str) -> wire.WorkflowDetail:
        """A workflow's description, parameters (with their schemas) and data selections."""
        return self._transport.get(wire.WorkflowDetail, "GET", f"/workflows/{segment(workflow_id)}")

    # -- runs -------------------------------------------------------------------------------

    @staticmethod
    def _run_request(data_selection: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        body = wire.RunRequest(in_data_selection=data_selection, params=dict(params or {}))
        return body.model_dump(mode="json")

    def start_run(
        self,
        workflow_id: str,
        data_selection: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> wire.StartedRun:
        """Start a run of ``workflow_id`` on ``data_selection`` with ``params``."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        path = f"/workflows/{segment(workflow_id)}/runs"
        body = self._run_request(data_selection, params)
        return self._transport.get(wire.StartedRun, "POST", path, json=body, headers=headers)

    def check_run(
        self, workflow_id: str, data_selection: str, params: Mapping[str, Any] | None = None
    ) -> wire.DryRun:
        """Validate a run request on the server without starting it (``dry_run=true``): the
        answer holds the conf that would be sent."""
        path = f"/workflows/{segment(workflow_id)}/runs"
        body = self._run_request(data_selection, params)
        return self._transport.get(wire.DryRun, "POST", path, params={"dry_run": "true"}, json=body)

    def runs(
        self, workflow_id: str | None = None, *, status: str | None = None, limit: int | None = None
    ) -> list[wire.Run]:
        """The caller's runs, newest first: of one workflow, or (``workflow_id`` None) of every
        workflow they may run; all pages, or at most ``limit`` runs."""
        params: dict[str, Any] = {}
        if status:
            params["status"] = status
        if limit:
            params["limit"] = limit
        path = "/runs" if workflow_id is None else f"/workflows/{segment(workflow_id)}/runs"
        out: list[wire.Run] = []
        for page in self._transport.pages(wire.RunList, path, params):
            out.extend(page.runs)
            if limit and len(out) >= limit:
                return out[:limit]
        return out

    def run(self, workflow_id: str, run_id: str) -> wire.RunDetail:
        """One run, with its tasks and progress."""
        path = f"/workflows/{segment(workflow_id)}/runs/{segment(run_id)}"
        return self._transport.get(wire.RunDetail, "GET", path)

    def wait(
        self,
        workflow_id: str,
        run_id: str,
        *,
        interval: float = 3.0,
        timeout: float | None = None,
        on_update: Callable[[wire.RunDetail], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> wire.RunDetail:
        """Poll a run until it finishes (or ``timeout`` seconds pass: ClientError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.run(workflow_id, run_id)
            if on_update:
                on_update(run)
            if run.status.finished:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise ClientError(f"run {run_id} is still {run.status} after {timeout:g} s")
            sleep(interval)

    def task_log(
        self, workflow_id: str, run_id: str, task_id: str, *, try_number: int | None = None
    ) -> str:
        """A task's log as text (the latest try unless ``try_number`` is given)."""
        return "".join(self.iter_task_log(workflow_id, run_id, task_id, try_number=try_number))

    def iter_task_log(
        self, workflow_id: str, run_id: str, task_id: str, *, try_number: int | None = None
    ) -> Iterator[str]:
        """A task's log, streamed as it arrives, every page of it: where the server cut it
        (``Link: <…>; rel="next"``), the rest is asked for (with the link's query, on the same
        path: the token goes to this API only) and the server's note left out."""
        path = (
            f"/workflows/{segment(workflow_id)}/runs/{segment(run_id)}"
            f"/tasks/{segment(task_id)}/logs"
        )
        params: dict[str, Any] = {"try": try_number} if try_number is not None else {}
        headers = self._transport.headers({"Accept": "text/plain"})
        try:
            yield from read_log(self._transport.http, self.url(path), params, headers)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot read the log from {self.api_url}: {exc}") from None

    def cancel_run(self, workflow_id: str, run_id: str) -> wire.Run:
        """Stop a queued or running run (409 if it already finished)."""
        path = f"/workflows/{segment(workflow_id)}/runs/{segment(run_id)}/cancel"
        return self._transport.get(wire.Run, "POST", path)

    # -- provenance -------------------------------------------------------------------------

    def ro_crate(self, workflow_id: str, run_id: str, *, zipped: bool = False) -> bytes:
        """A run's provenance as a Workflow Run RO-Crate: its JSON-LD metadata, or with
        ``zipped`` the whole crate as a zip (metadata, preview page, DAG file)."""
        path = f"/workflows/{segment(workflow_id)}/runs/{segment(run_id)}/ro-crate"
        if zipped:
            headers = {"Accept": "application/zip"}
            response = self._transport.send("GET", path, params={"format": "zip"}, headers=headers)
        else:
            response = self._transport.send("GET", path, headers={"Accept": "application/ld+json"})
        return response.content

    def find_run(self, run_id: str) -> wire.RunDetail:
        """One of the caller's runs by its id alone, looked for in every workflow they may run
        (``ClientError`` 404 when none has it)."""
        for workflow in self.workflows():
            try:
                return self.run(workflow.id, run_id)
            except ClientError as exc:
                if exc.status != 404:
                    raise
        raise ClientError(f"no run {run_id!r} in any workflow you may run", status=404)

    # -- outputs ----------------------------------------------------------------------------

    def _output_path(self, path: str) -> str:
        cleaned = clean_path(path)
        if any(p in (".", "..") for p in cleaned.split("/")):
            raise ClientError(f"invalid output path {path!r}")
        return "/output-data/" + quote(cleaned, safe="/")

    def outputs(self, path: str = "", *, limit: int | None = None) -> wire.Folder:
        """One folder of the caller's outputs, every page merged (sub-folders and files
        sorted by name)."""
        params = {"limit": limit} if limit else {}
        folders: dict[str, wire.FolderLink] = {}
        files: dict[str, wire.FileEntry] = {}
        prefix = ""
        for page in self._transport.pages(wire.Folder, self._output_path(path), params):
            prefix = page.prefix
            folders.update(page.folders)
            files.update(page.files)
        return wire.Folder(
            prefix=prefix,
            folders=dict(sorted(folders.items())),
            files=dict(sorted(files.items())),
        )

    def walk(self, path: str = "") -> Iterator[tuple[str, wire.FileEntry]]:
        """Every file under a folder, recursively, as (path relative to it, entry)."""
        stack = [""]
        base = clean_path(path)
        while stack:
            rel = stack.pop()
            listing = self.outputs(f"{base}/{rel}" if base else rel)
            for name, entry in listing.files.items():
                yield (f"{rel}/{name}" if rel else name), entry
            for folder in reversed(listing.folders):
                name = folder.strip("/")
                stack.append(f"{rel}/{name}" if rel else name)

    def file_info(self, path: str) -> wire.FileEntry:
        """The entry of one output file (href, size, date, properties), reading the pages of
        its folder up to the one that lists it."""
        cleaned = clean_path(path)
        parent, _, name = cleaned.rpartition("/")
        if name:
            for page in self._transport.pages(wire.Folder, self._output_path(parent), {}):
                if name in page.files:
                    return page.files[name]
        raise ClientError(f"no output file {cleaned!r}", status=404)

    def set_properties(
        self,
        path: str,
        files: Mapping[str, Mapping[str, str]],
        *,
        etags: Mapping[str, str | None] | None = None,
    ) -> list[str]:
        """Replace the metadata properties of files of folder ``path``; answers updated names.

        A file named in ``etags`` is written only if its ``properties_etag`` is still that one
        (None: it has no properties yet); ``ClientError`` with status 412 otherwise."""
        etags = etags or {}
        body = wire.Annotation(
            files={
                name: wire.FileAnnotation(properties=dict(p), etag=etags[name])
                if name in etags
                else wire.FileAnnotation(properties=dict(p))
                for name, p in files.items()
            }
        )
        path = self._output_path(path)
        answer = body.model_dump(mode="json", exclude_unset=True)
        return self._transport.get(wire.Updated, "PUT", path, json=answer).updated

    def annotate(
        self,
        path: str,
        file: str,
        properties: Mapping[str, str],
        *,
        remove: Iterable[str] = (),
    ) -> dict[str, str]:
        """Merge ``properties`` into a file's current ones (dropping ``remove``), save the set.

        The set is written only over the version it was merged with; when someone else changed
        the properties meanwhile, the merge is done again on theirs (a few times at most)."""
        for attempt in range(_MERGE_ATTEMPTS):
            current = self.file_info(f"{clean_path(path)}/{file}" if clean_path(path) else file)
            merged = dict(current.properties)
            merged.update(properties)
            for key in remove:
                merged.pop(key, None)
            try:
                self.set_properties(path, {file: merged}, etags={file: current.properties_etag})
            except ClientError as exc:
                if exc.status != 412 or attempt == _MERGE_ATTEMPTS - 1:
                    raise
                continue
            return merged
        raise AssertionError("unreachable")

    def download_file(
        self,
        entry: wire.FileEntry,
        dest: Path,
        label: str,
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> DownloadResult:
        """Fetch one file (``label`` names it in messages) to ``dest``: skip it when complete,
        resume it with HTTP Range when partial and the server allows, and check its size at
        the end. ``on_progress`` receives byte counts adding up to the file's size (bytes
        already present included)."""
        url = urljoin(self.api_url + "/", entry.href)
        return fetch_file(self._transport.http, url, entry.size, dest, label, on_progress)

    def download(
        self,
        path: str,
        dest: Path,
        *,
        on_start: Callable[[list[tuple[str, wire.FileEntry]]], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[DownloadResult]:
        """Download one file or a whole folder (recursively) into ``dest``."""
        cleaned = clean_path(path)
        try:
            listing: wire.Folder | None = self.outputs(cleaned)
        except ClientError as exc:
            if exc.status != 404 or not cleaned:
                raise
            listing = None
        if listing is not None and (listing.files or listing.folders or not cleaned):
            plan = list(self.walk(cleaned))
            targets = [(rel, entry, dest / safe_relative(rel)) for rel, entry in plan]
        else:
            entry = self.file_info(cleaned)
            name = cleaned.rpartition("/")[2]
            plan = [(name, entry)]
            targets = [(name, entry, dest / name if dest.is_dir() else dest)]
        if on_start:
            on_start(plan)
        return [
            self.download_file(entry, target, rel, on_progress=on_progress)
            for rel, entry, target in targets
        ]
