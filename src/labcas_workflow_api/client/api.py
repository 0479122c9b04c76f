"""``LabcasClient``: one method per call of the LabCAS Workflow API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urljoin

import httpx
from pydantic import BaseModel, ValidationError

from labcas_workflow_api import wire
from labcas_workflow_api.client.downloads import USER_AGENT, fetch_file, safe_relative
from labcas_workflow_api.client.errors import ClientError, raise_for_error
from labcas_workflow_api.client.log_pages import read_log
from labcas_workflow_api.client.models import DownloadResult

__all__ = ["ClientError", "LabcasClient", "clean_path"]
_MAX_PAGES = 10_000
_MERGE_ATTEMPTS = 3
M = TypeVar("M", bound=BaseModel)
Paged = TypeVar("Paged", wire.RunList, wire.Folder)


def clean_path(path: str) -> str:
    """An output-data path without leading/trailing slashes (``""`` for the root)."""
    return "/".join(p for p in path.strip().split("/") if p)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _run_path(workflow_id: str, run_id: str) -> str:
    return f"/workflows/{_segment(workflow_id)}/runs/{_segment(run_id)}"


def _run_request(data_selection: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    body = wire.RunRequest(in_data_selection=data_selection, params=dict(params or {}))
    return body.model_dump(mode="json")


class LabcasClient:
    """A typed client of the API at ``api_url`` (e.g. ``https://host/dev``), sending ``token``
    as ``Authorization: Bearer``; every call raises ``ClientError`` on an error answer or when
    the API cannot be reached."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=True
        )
        self._owns_http = http is None

    def __repr__(self) -> str:
        token = "***" if self._token else None
        return f"LabcasClient({self.api_url!r}, token={token})"

    def __enter__(self) -> LabcasClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.api_url + path

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # no-cache: the service lists a folder afresh, so a script reads back what it wrote
        # even through another server instance than the one it wrote through
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Cache-Control": "no-cache",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        headers.update(extra or {})
        return headers

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self._headers(kwargs.pop("headers", None))
        try:
            response = self._http.request(method, self.url(path), headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise ClientError(f"the API at {self.api_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the API at {self.api_url}: {exc}") from None
        raise_for_error(response)
        return response

    def _get(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        response = self._send(method, path, **kwargs)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in error["loc"]) or "answer"
            raise ClientError(
                f"unexpected answer to {method} {path}: {where}: {error['msg']}",
                status=response.status_code,
            ) from None

    def _pages(self, model: type[Paged], path: str, params: dict[str, Any]) -> Iterator[Paged]:
        """Each page of a listing, following ``next`` links until the end."""
        page = self._get(model, "GET", path, params=params)
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            yield page
            if not page.next or page.next in seen:
                return
            seen.add(page.next)
            page = self._get(model, "GET", urljoin(self.api_url + "/", page.next))

    def data_selections(self) -> list[wire.Entry]:
        """The data selections the caller may run at least one workflow on."""
        return self._get(wire.DataSelectionList, "GET", "/data-selections").data_selections

    def workflows(self, data_selection: str | None = None) -> list[wire.Entry]:
        """Workflows the caller may run, on one data selection or on any."""
        if data_selection is None:
            return self._get(wire.WorkflowList, "GET", "/workflows").workflows
        params = {"data_id": data_selection}
        path = "/data-selections/workflows"
        return self._get(wire.WorkflowList, "GET", path, params=params).workflows

    def workflow(self, workflow_id: str) -> wire.WorkflowDetail:
        """A workflow's description, parameters (with their schemas) and data selections."""
        return self._get(wire.WorkflowDetail, "GET", f"/workflows/{_segment(workflow_id)}")

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
        path = f"/workflows/{_segment(workflow_id)}/runs"
        body = _run_request(data_selection, params)
        return self._get(wire.StartedRun, "POST", path, json=body, headers=headers)

    def check_run(
        self, workflow_id: str, data_selection: str, params: Mapping[str, Any] | None = None
    ) -> wire.DryRun:
        """Validate a run request on the server without starting it (``dry_run=true``)."""
        path = f"/workflows/{_segment(workflow_id)}/runs"
        body = _run_request(data_selection, params)
        return self._get(wire.DryRun, "POST", path, params={"dry_run": "true"}, json=body)

    def runs(
        self, workflow_id: str | None = None, *, status: str | None = None, limit: int | None = None
    ) -> list[wire.Run]:
        """The caller's runs, newest first, of one workflow or (None) of all; at most ``limit``."""
        params = {key: value for key, value in (("status", status), ("limit", limit)) if value}
        path = "/runs" if workflow_id is None else f"/workflows/{_segment(workflow_id)}/runs"
        out: list[wire.Run] = []
        for page in self._pages(wire.RunList, path, params):
            out.extend(page.runs)
            if limit and len(out) >= limit:
                return out[:limit]
        return out

    def run(self, workflow_id: str, run_id: str) -> wire.RunDetail:
        """One run, with its tasks and progress."""
        return self._get(wire.RunDetail, "GET", _run_path(workflow_id, run_id))

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
        """A task's log, streamed as it arrives, every page of it (the token goes to this API
        only: the rest of a cut page is asked for on the same path)."""
        path = f"{_run_path(workflow_id, run_id)}/tasks/{_segment(task_id)}/logs"
        params: dict[str, Any] = {"try": try_number} if try_number is not None else {}
        headers = self._headers({"Accept": "text/plain"})
        try:
            yield from read_log(self._http, self.url(path), params, headers)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot read the log from {self.api_url}: {exc}") from None

    def cancel_run(self, workflow_id: str, run_id: str) -> wire.Run:
        """Stop a queued or running run (409 if it already finished)."""
        return self._get(wire.Run, "POST", f"{_run_path(workflow_id, run_id)}/cancel")

    def ro_crate(self, workflow_id: str, run_id: str, *, zipped: bool = False) -> bytes:
        """A run's Workflow Run RO-Crate: its JSON-LD metadata, or (``zipped``) the whole crate."""
        path = f"{_run_path(workflow_id, run_id)}/ro-crate"
        if zipped:
            headers = {"Accept": "application/zip"}
            return self._send("GET", path, params={"format": "zip"}, headers=headers).content
        return self._send("GET", path, headers={"Accept": "application/ld+json"}).content

    def find_run(self, run_id: str) -> wire.RunDetail:
        """One of the caller's runs, looked for in every workflow they may run (else 404)."""
        for workflow in self.workflows():
            try:
                return self.run(workflow.id, run_id)
            except ClientError as exc:
                if exc.status != 404:
                    raise
        raise ClientError(f"no run {run_id!r} in any workflow you may run", status=404)

    def _output_path(self, path: str) -> str:
        cleaned = clean_path(path)
        if any(p in (".", "..") for p in cleaned.split("/")):
            raise ClientError(f"invalid output path {path!r}")
        return "/output-data/" + quote(cleaned, safe="/")

    def outputs(self, path: str = "") -> wire.Folder:
        """One folder of the caller's outputs, every page merged, sorted by name."""
        pages = list(self._pages(wire.Folder, self._output_path(path), {}))
        folders = {name: link for page in pages for name, link in page.folders.items()}
        files = {name: entry for page in pages for name, entry in page.files.items()}
        return wire.Folder(
            prefix=pages[-1].prefix,
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
        """The entry of one output file (href, size, date, properties); 404 when none."""
        cleaned = clean_path(path)
        parent, _, name = cleaned.rpartition("/")
        if name:
            for page in self._pages(wire.Folder, self._output_path(parent), {}):
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
        """Replace the properties of files in folder ``path``; answers the names updated. A file
        named in ``etags`` only if its ``properties_etag`` is still that (None: none), else 412."""
        etags = etags or {}
        body = wire.Annotation(
            files={
                name: wire.FileAnnotation(properties=dict(p), etag=etags[name])
                if name in etags
                else wire.FileAnnotation(properties=dict(p))
                for name, p in files.items()
            }
        )
        answer = body.model_dump(mode="json", exclude_unset=True)
        return self._get(wire.Updated, "PUT", self._output_path(path), json=answer).updated

    def annotate(
        self, path: str, file: str, properties: Mapping[str, str], *, remove: Iterable[str] = ()
    ) -> dict[str, str]:
        """Merge ``properties`` into a file's own (less ``remove``), saved only over the version
        merged with: if someone saved meanwhile, merged again on theirs (a few times at most)."""
        where = f"{clean_path(path)}/{file}" if clean_path(path) else file
        removed = set(remove)
        attempts = _MERGE_ATTEMPTS
        while True:
            attempts -= 1
            current = self.file_info(where)
            merged = {**current.properties, **properties}
            merged = {key: value for key, value in merged.items() if key not in removed}
            try:
                self.set_properties(path, {file: merged}, etags={file: current.properties_etag})
                return merged
            except ClientError as exc:
                if exc.status != 412 or not attempts:
                    raise

    def download(
        self,
        path: str,
        dest: Path,
        *,
        on_start: Callable[[list[tuple[str, wire.FileEntry]]], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[DownloadResult]:
        """Download one file or a whole folder (recursively) into ``dest`` (``fetch_file``)."""
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
        base = self.api_url + "/"
        return [
            fetch_file(self._http, urljoin(base, entry.href), entry.size, target, rel, on_progress)
            for rel, entry, target in targets
        ]
