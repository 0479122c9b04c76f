"""``LabcasClient``: one method per call of the LabCAS Workflow API, over httpx."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from labcas_workflow_api.client.models import (
    DataSelection,
    DownloadResult,
    FileEntry,
    FolderEntry,
    OutputListing,
    RunInfo,
    RunStarted,
    WorkflowDetail,
    WorkflowSummary,
)

USER_AGENT = "labcas-workflows/0.1"
_MAX_PAGES = 10_000
_UNSUPPORTED = (404, 405, 501)


class ClientError(Exception):
    """A call failed: the API answered an error (``status`` and the problem+json body) or could
    not be reached (``status`` None). ``str()`` is one readable line."""

    def __init__(
        self, message: str, *, status: int | None = None, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.problem = problem or {}

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.message)


def _error_from(response: httpx.Response) -> ClientError:
    status = response.status_code
    problem: dict[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict):
            problem = body
    except ValueError:
        pass
    detail = problem.get("detail")
    if isinstance(detail, list):  # FastAPI's own validation errors
        detail = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
            if isinstance(d, dict)
            else str(d)
            for d in detail
        )
    title = problem.get("title") or response.reason_phrase or "error"
    if not detail:
        text = response.text.strip().splitlines()
        detail = text[0][:200] if text and not text[0].lstrip().startswith("<") else ""
    message = f"{status} {title}: {detail}" if detail else f"{status} {title}"
    return ClientError(" ".join(message.split()), status=status, problem=problem)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _safe_relative(rel: str) -> PurePosixPath:
    parts = PurePosixPath(rel).parts
    if not parts or any(p in ("", ".", "..") or "\\" in p for p in parts) or rel.startswith("/"):
        raise ClientError(f"refusing to write unsafe path {rel!r}")
    return PurePosixPath(*parts)


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
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=True
        )
        self._owns_http = http is None

    def __repr__(self) -> str:
        return f"LabcasClient({self.api_url!r}, token={'***' if self._token else None})"

    def __enter__(self) -> LabcasClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        headers.update(extra or {})
        return headers

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.api_url + path

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self._headers(kwargs.pop("headers", None))
        try:
            response = self._http.request(method, self.url(path), headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise ClientError(f"the API at {self.api_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the API at {self.api_url}: {exc}") from None
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise ClientError(
                f"the API answered {method} {path} with something that is not JSON",
                status=response.status_code,
            ) from None
        if not isinstance(body, dict):
            raise ClientError(f"unexpected answer to {method} {path}", status=response.status_code)
        return body

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Each page of a listing, following ``next`` links (or cursors) until the end."""
        body = self._json("GET", path, params=params)
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            yield body
            following = body.get("next")
            if isinstance(following, dict):
                following = following.get("href")
            if not following or not isinstance(following, str) or following in seen:
                return
            seen.add(following)
            body = self._json("GET", urljoin(self.api_url + "/", following))

    # -- discovery --------------------------------------------------------------------------

    def data_selections(self) -> list[DataSelection]:
        """The data selections the caller may run at least one workflow on."""
        body = self._json("GET", "/data-selections")
        return [DataSelection.from_json(d) for d in body.get("data_selections", [])]

    def workflows(self, data_selection: str | None = None) -> list[WorkflowSummary]:
        """Workflows the caller may run, on one data selection or on any."""
        if data_selection is None:
            body = self._json("GET", "/workflows")
        else:
            params = {"data_id": data_selection}
            body = self._json("GET", "/data-selections/workflows", params=params)
        return [WorkflowSummary.from_json(w) for w in body.get("workflows", [])]

    def workflow(self, workflow_id: str) -> WorkflowDetail:
        """A workflow's description, parameters (with their schemas) and data selections."""
        return WorkflowDetail.from_json(self._json("GET", f"/workflows/{_segment(workflow_id)}"))

    # -- runs -------------------------------------------------------------------------------

    def start_run(
        self,
        workflow_id: str,
        data_selection: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> RunStarted:
        """Start a run of ``workflow_id`` on ``data_selection`` with ``params``."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"in_data_selection": data_selection, "params": dict(params or {})}
        answer = self._json(
            "POST", f"/workflows/{_segment(workflow_id)}/runs", json=body, headers=headers
        )
        return RunStarted.from_json(answer, workflow_id)

    def check_run(
        self, workflow_id: str, data_selection: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Validate a run request on the server without starting it (``dry_run=true``).

        Answers the conf that would be sent. Raises ClientError if the server does not
        support dry runs (it then names the run it started instead).
        """
        body = {"in_data_selection": data_selection, "params": dict(params or {})}
        response = self._send(
            "POST",
            f"/workflows/{_segment(workflow_id)}/runs",
            params={"dry_run": "true"},
            json=body,
        )
        answer = response.json()
        if response.status_code == 201:
            run_id = answer.get("run_id") if isinstance(answer, dict) else None
            raise ClientError(
                f"this server does not support dry runs and started run {run_id} instead",
                status=201,
            )
        return answer if isinstance(answer, dict) else {"answer": answer}

    def runs(
        self, workflow_id: str, *, status: str | None = None, limit: int | None = None
    ) -> list[RunInfo]:
        """The caller's runs of a workflow, newest first (all pages, or at most ``limit``)."""
        params: dict[str, Any] = {}
        if status:
            params["status"] = status
        if limit:
            params["limit"] = limit
        out: list[RunInfo] = []
        for page in self._pages(f"/workflows/{_segment(workflow_id)}/runs", params):
            for data in page.get("runs", []):
                run = RunInfo.from_json(data, workflow_id)
                if status is None or run.status == status:  # older servers ignore status=
                    out.append(run)
            if limit and len(out) >= limit:
                return out[:limit]
        return out

    def run(self, workflow_id: str, run_id: str) -> RunInfo:
        """One run, with its tasks and progress when the server reports them."""
        path = f"/workflows/{_segment(workflow_id)}/runs/{_segment(run_id)}"
        try:
            return RunInfo.from_json(self._json("GET", path), workflow_id)
        except ClientError as exc:
            if exc.status not in _UNSUPPORTED:
                raise
            for run in self.runs(workflow_id):  # a server without the run details endpoint
                if run.run_id == run_id:
                    return run
            raise

    def wait(
        self,
        workflow_id: str,
        run_id: str,
        *,
        interval: float = 3.0,
        timeout: float | None = None,
        on_update: Callable[[RunInfo], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RunInfo:
        """Poll a run until it finishes (or ``timeout`` seconds pass: ClientError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.run(workflow_id, run_id)
            if on_update:
                on_update(run)
            if run.finished:
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
        """A task's log, streamed as it arrives."""
        path = (
            f"/workflows/{_segment(workflow_id)}/runs/{_segment(run_id)}"
            f"/tasks/{_segment(task_id)}/logs"
        )
        params = {"try": try_number} if try_number is not None else {}
        headers = self._headers({"Accept": "text/plain"})
        try:
            with self._http.stream(
                "GET", self.url(path), params=params, headers=headers
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from(response)
                yield from response.iter_text()
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot read the log from {self.api_url}: {exc}") from None

    def cancel_run(self, workflow_id: str, run_id: str) -> RunInfo | None:
        """Stop a queued or running run (409 if it already finished)."""
        path = f"/workflows/{_segment(workflow_id)}/runs/{_segment(run_id)}/cancel"
        body = self._json("POST", path)
        return RunInfo.from_json(body, workflow_id) if "run_id" in body else None

    # -- outputs ----------------------------------------------------------------------------

    def _output_path(self, path: str) -> str:
        cleaned = clean_path(path)
        if any(p in (".", "..") for p in cleaned.split("/")):
            raise ClientError(f"invalid output path {path!r}")
        return "/output-data/" + quote(cleaned, safe="/")

    def outputs(self, path: str = "", *, limit: int | None = None) -> OutputListing:
        """One folder of the caller's outputs (every page merged)."""
        params = {"limit": limit} if limit else {}
        folders: dict[str, FolderEntry] = {}
        files: dict[str, FileEntry] = {}
        prefix = ""
        for page in self._pages(self._output_path(path), params):
            prefix = str(page.get("prefix") or prefix)
            for name, data in (page.get("folders") or {}).items():
                href = data.get("href") if isinstance(data, dict) else None
                folders[name] = FolderEntry(name=name, href=href)
            for name, data in (page.get("files") or {}).items():
                files[name] = FileEntry.from_json(name, data if isinstance(data, dict) else {})
        return OutputListing(
            path=clean_path(path),
            prefix=prefix,
            folders=sorted(folders.values(), key=lambda f: f.name),
            files=sorted(files.values(), key=lambda f: f.name),
        )

    def walk(self, path: str = "") -> Iterator[tuple[str, FileEntry]]:
        """Every file under a folder, recursively, as (path relative to it, entry)."""
        stack = [""]
        base = clean_path(path)
        while stack:
            rel = stack.pop()
            listing = self.outputs(f"{base}/{rel}" if base else rel)
            for entry in listing.files:
                yield (f"{rel}/{entry.name}" if rel else entry.name), entry
            for folder in reversed(listing.folders):
                name = folder.name.strip("/")
                stack.append(f"{rel}/{name}" if rel else name)

    def file_info(self, path: str) -> FileEntry:
        """The entry of one output file (href, size, date, properties)."""
        cleaned = clean_path(path)
        parent, _, name = cleaned.rpartition("/")
        entry = self.outputs(parent).file(name) if name else None
        if entry is None:
            raise ClientError(f"no output file {cleaned!r}", status=404)
        return entry

    def set_properties(self, path: str, files: Mapping[str, Mapping[str, str]]) -> list[str]:
        """Replace the metadata properties of files of folder ``path``; answers updated names."""
        body = {"files": {name: {"properties": dict(p)} for name, p in files.items()}}
        answer = self._json("PUT", self._output_path(path), json=body)
        return [str(n) for n in answer.get("updated", [])]

    def annotate(
        self,
        path: str,
        file: str,
        properties: Mapping[str, str],
        *,
        remove: Iterable[str] = (),
    ) -> dict[str, str]:
        """Merge ``properties`` into a file's current ones (dropping ``remove``), save the set."""
        current = self.outputs(path).file(file)
        if current is None:
            where = clean_path(path) or "your outputs"
            raise ClientError(f"no file {file!r} in {where}", status=404)
        merged = dict(current.properties)
        merged.update(properties)
        for key in remove:
            merged.pop(key, None)
        self.set_properties(path, {file: merged})
        return merged

    def download_file(
        self,
        entry: FileEntry,
        dest: Path,
        *,
        on_progress: Callable[[int], None] | None = None,
        label: str | None = None,
    ) -> DownloadResult:
        """Fetch one file to ``dest``: skip it when complete, resume it with HTTP Range when
        partial and the server allows, and check its size at the end.

        ``on_progress`` receives byte counts adding up to the file's size (bytes already
        present included)."""
        size = entry.size
        label = label or entry.name
        have = dest.stat().st_size if dest.is_file() else 0
        if size is not None and have == size:
            if on_progress:
                on_progress(size)
            return DownloadResult(label, str(dest), "skipped", 0, size)
        if size is not None and have > size:
            have = 0
        dest.parent.mkdir(parents=True, exist_ok=True)
        url = urljoin(self.api_url + "/", entry.href)
        headers = {"User-Agent": USER_AGENT}  # a presigned URL carries its own authorization
        if have:
            headers["Range"] = f"bytes={have}-"
        written = 0
        try:
            with self._http.stream("GET", url, headers=headers) as response:
                if response.status_code == 416 and have:
                    response.read()
                    dest.unlink()
                    return self.download_file(entry, dest, on_progress=on_progress, label=label)
                if response.status_code >= 400:
                    response.read()
                    raise _error_from(response)
                resumed = response.status_code == 206 and response.headers.get(
                    "content-range", ""
                ).startswith(f"bytes {have}-")
                if have and not resumed:
                    have = 0
                if have and on_progress:
                    on_progress(have)
                with dest.open("ab" if resumed else "wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        written += len(chunk)
                        if on_progress:
                            on_progress(len(chunk))
        except httpx.HTTPError as exc:
            raise ClientError(f"download of {label} failed: {exc}") from None
        final = dest.stat().st_size
        if size is not None and final != size:
            raise ClientError(f"{label}: got {final} bytes, expected {size}")
        outcome = "resumed" if have else "downloaded"
        return DownloadResult(label, str(dest), outcome, written, final)

    def download(
        self,
        path: str,
        dest: Path,
        *,
        on_start: Callable[[list[tuple[str, FileEntry]]], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[DownloadResult]:
        """Download one file or a whole folder (recursively) into ``dest``."""
        cleaned = clean_path(path)
        try:
            listing: OutputListing | None = self.outputs(cleaned)
        except ClientError as exc:
            if exc.status != 404 or not cleaned:
                raise
            listing = None
        if listing is not None and (listing.files or listing.folders or not cleaned):
            plan = list(self.walk(cleaned))
            targets = [(rel, entry, dest / _safe_relative(rel)) for rel, entry in plan]
        else:
            entry = self.file_info(cleaned)
            plan = [(entry.name, entry)]
            target = dest / entry.name if dest.is_dir() else dest
            targets = [(entry.name, entry, target)]
        if on_start:
            on_start(plan)
        return [
            self.download_file(entry, target, on_progress=on_progress, label=rel)
            for rel, entry, target in targets
        ]
