"""An in-memory fake of the LabCAS Workflow API for client and CLI unit tests (MockTransport).

Its answers are made with the wire models, so they have the shape the real API gives."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from pydantic import BaseModel

from labcas_workflow_api import wire

API = "http://api.test"
S3 = "http://s3.test"
TOKEN = "header.payload.signature"
RUN_DEFAULTS: dict[str, Any] = {
    "workflow_id": "nebraska_demo",
    "start_time": None,
    "end_time": None,
    "output_url": None,
    "output_folder": None,
    "conf": {},
}


def isolate_cli(home: Path, monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """The CLI of a test: its config under ``home``, no API or token from the environment,
    a terminal ``columns`` wide."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.delenv("LABCAS_API_URL", raising=False)
    monkeypatch.delenv("LABCAS_TOKEN", raising=False)


def answer(model: BaseModel, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=model.model_dump(mode="json", by_alias=True))


def problem(status: int, detail: str, title: str = "Error") -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


@dataclass
class FakeApi:
    """Holds the state the fake serves, and records every request."""

    runs: list[dict[str, Any]] = field(default_factory=list)  # Run fields; defaults filled in
    files: dict[str, bytes] = field(default_factory=dict)  # path under the user's area -> data
    properties: dict[str, dict[str, str]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    page_size: int = 0
    statuses: list[str] = field(default_factory=list)  # successive statuses of a polled run
    log: bytes = b"line 1\nline 2\n"  # the log of task "segment"
    log_page: int = 0  # bytes per page of a log (0: whole, streamed)
    honour_range: bool = True
    tasks: list[dict[str, Any]] = field(default_factory=list)  # Task fields; else two tasks
    parameters: dict[str, Any] = field(
        default_factory=lambda: {
            "tile_size": {
                "default": 64,
                "description": "Tile edge in pixels",
                "required": False,
                "schema": {"type": "integer", "minimum": 8, "maximum": 1024},
            },
            "method": {
                "default": "otsu",
                "description": None,
                "required": False,
                "schema": {"type": "string", "enum": ["otsu", "li"]},
            },
            "smooth": {
                "default": False,
                "description": "",
                "required": False,
                "schema": {"type": "boolean"},
            },
        }
    )

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport())

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = request.url
        if str(url).startswith(S3):
            return self._s3(request)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return problem(401, "token expired", "Unauthenticated")
        path = unquote(url.raw_path.decode().split("?")[0])
        method = request.method
        if path == "/data-selections":
            selection = wire.Entry(id="nebraska_images", description="Demo")
            return answer(wire.DataSelectionList(data_selections=[selection]))
        if path == "/data-selections/workflows":
            if url.params.get("data_id") != "nebraska_images":
                return problem(404, f"no data selection {url.params.get('data_id')}")
            return answer(
                wire.WorkflowList(workflows=[wire.Entry(id="nebraska_demo", description=None)])
            )
        if path == "/workflows":
            demo = wire.Entry(id="nebraska_demo", description="Nuclei")
            return answer(wire.WorkflowList(workflows=[demo]))
        if path == "/workflows/nebraska_demo" and method == "GET":
            detail = {
                "id": "nebraska_demo",
                "description": "Nuclei detection",
                "parameters": self.parameters,
                "schedule": None,
                "paused": False,
                "data_selections": ["nebraska_images"],
            }
            return answer(wire.WorkflowDetail.model_validate(detail))
        if path.startswith("/workflows/") and not path.startswith("/workflows/nebraska_demo"):
            return problem(404, "unknown workflow")
        if path == "/workflows/nebraska_demo/runs" and method == "POST":
            return self._start(request)
        if path == "/workflows/nebraska_demo/runs" and method == "GET":
            return self._list_runs(request)
        if path == "/runs" and method == "GET":
            return self._list_runs(request, "/runs")
        if path.startswith("/workflows/nebraska_demo/runs/"):
            raw = url.raw_path.decode().split("?")[0]
            return self._run(request, raw.removeprefix("/workflows/nebraska_demo/runs/"))
        if path.startswith("/output-data/"):
            rel = path.removeprefix("/output-data/")
            return self._outputs(request, rel)
        return problem(404, f"no route {path}")

    def _start(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("in_data_selection") != "nebraska_images":
            return problem(404, "unknown data selection")
        params = body.get("params", {})
        if params.get("tile_size", 64) < 8:
            return problem(422, "tile_size: must be >= 8", "Invalid parameters")
        run = {
            **RUN_DEFAULTS,
            "run_id": f"run{len(self.runs) + 1}",
            "status": "queued",
            "output_url": f"{API}/output-data/thomas/x",
            "conf": {"in_data_selection": "nebraska_images", **params},
        }
        if request.url.params.get("dry_run") == "true":
            conf = {**run["conf"], "username": "thomas"}
            checked = {**run, "status": "validated", "conf": conf, "dry_run": True}
            return answer(wire.DryRun.model_validate(checked))
        self.runs.insert(0, run)
        return answer(wire.StartedRun.model_validate(run), 201)

    def run_answer(self, run: dict[str, Any]) -> wire.Run:
        return wire.Run.model_validate({**RUN_DEFAULTS, **run})

    def _list_runs(
        self, request: httpx.Request, path: str = "/workflows/nebraska_demo/runs"
    ) -> httpx.Response:
        wanted = request.url.params.get("status")
        runs = [r for r in self.runs if wanted in (None, r["status"])]
        if path == "/workflows/nebraska_demo/runs":
            runs = [r for r in runs if r.get("workflow_id", "nebraska_demo") == "nebraska_demo"]
        start = int(request.url.params.get("cursor", "0"))
        size = self.page_size or len(runs) or 1
        page = wire.RunList(runs=[self.run_answer(r) for r in runs[start : start + size]])
        if start + size < len(runs):
            page.next = f"{API}{path}?cursor={start + size}"
        return answer(page)

    def _run(self, request: httpx.Request, rest: str) -> httpx.Response:
        quoted, _, tail = rest.partition("/")  # the run id is one escaped segment
        run_id = unquote(quoted)
        run = next((r for r in self.runs if r["run_id"] == run_id), None)
        if run is None:
            return problem(404, f"no run {run_id}")
        if tail == "cancel":
            if run["status"] in ("success", "failed"):
                return problem(409, "the run already finished", "Conflict")
            run["status"] = "cancelled"
            return answer(self.run_answer(run))
        if tail.startswith("tasks/"):
            task = tail.split("/")[1]
            if task != "segment":
                return problem(404, f"no task {task}")
            return self._log(request)
        if self.statuses:
            run["status"] = self.statuses.pop(0)
        task = {"map_index": -1, "start_time": None, "end_time": None, "duration": None}
        tasks = [
            {**task, "task_id": "fetch", "state": "success", "try_number": 1, "duration": 1.5},
            {**task, "task_id": "segment", "state": "running", "try_number": 1},
        ]
        detail = {
            **self.run_answer(run).model_dump(),
            "tasks": [{**task, **t} for t in self.tasks] or tasks,
            "progress": {"done": 1, "total": len(self.tasks) or 2},
        }
        return answer(wire.RunDetail.model_validate(detail))

    def _log(self, request: httpx.Request) -> httpx.Response:
        """The log whole, or a page of ``log_page`` bytes ending after a line end as the
        server cuts them, with its Link header and last line."""
        offset = int(request.url.params.get("offset", "0"))
        rest = self.log[offset:]
        if not self.log_page or len(rest) <= self.log_page:
            return httpx.Response(200, content=rest)
        cut = rest.rfind(b"\n", 0, self.log_page) + 1 or self.log_page
        following = f"{API}{request.url.path}?offset={offset + cut}&max_bytes={self.log_page}"
        ends_line = rest[cut - 1 : cut] == b"\n"
        note = f"[LabCAS: the log was cut at byte {offset + cut} (pages of {self.log_page} bytes)"
        note += f"; the rest: {following}]\n"
        body = rest[:cut] + (b"" if ends_line else b"\n") + note.encode()
        return httpx.Response(200, content=body, headers={"Link": f'<{following}>; rel="next"'})

    def _outputs(self, request: httpx.Request, rel: str) -> httpx.Response:
        folder = rel.strip("/")
        if request.method == "PUT":
            body = json.loads(request.content)
            for name, entry in body["files"].items():
                key = f"{folder}/{name}" if folder else name
                if key not in self.files:
                    return problem(404, f"no data file {name}")
                if "etag" in entry and entry["etag"] != self.etag(key):
                    return problem(412, f"the properties of {name} changed", "Precondition failed")
            for name, entry in body["files"].items():
                self.properties[f"{folder}/{name}" if folder else name] = dict(entry["properties"])
            return answer(wire.Updated(updated=sorted(body["files"])))
        base = f"{folder}/" if folder else ""
        folders: set[str] = set()
        files: dict[str, Any] = {}
        for key, data in sorted(self.files.items()):
            if not key.startswith(base):
                continue
            rest = key[len(base) :]
            if "/" in rest:
                folders.add(rest.split("/")[0] + "/")
            else:
                files[rest] = {
                    "href": f"{S3}/staging/thomas/{key}?X-Amz-Signature=abc",
                    "size": len(data),
                    "last_modified": "2024-05-01T12:00:00+00:00",
                    "properties": self.properties.get(key, {}),
                    "properties_etag": self.etag(key),
                }
        if not folders and not files and folder:
            return problem(404, f"nothing at {folder}")
        names = sorted(files)
        cursor = int(request.url.params.get("cursor", "0"))
        size = self.page_size or len(names) or 1
        body: dict[str, Any] = {
            "prefix": f"thomas/{base}",
            "folders": {f: {"href": f"{API}/output-data/{base}{f}"} for f in sorted(folders)}
            if cursor == 0
            else {},
            "files": {n: files[n] for n in names[cursor : cursor + size]},
        }
        if cursor + size < len(names):
            body["next"] = f"{API}/output-data/{base}?cursor={cursor + size}"
        return answer(wire.Folder.model_validate(body))

    def etag(self, key: str) -> str | None:
        """A sidecar ETag: of the file's properties, None while it has none."""
        if key not in self.properties:
            return None
        text = json.dumps(self.properties[key], sort_keys=True).encode()
        return hashlib.md5(text).hexdigest()

    def _s3(self, request: httpx.Request) -> httpx.Response:
        if "authorization" in request.headers:
            return httpx.Response(400, text="<Error>Only one auth mechanism allowed</Error>")
        key = unquote(request.url.path).removeprefix("/staging/thomas/")
        data = self.files.get(key)
        if data is None:
            return httpx.Response(404, text="<Error>NoSuchKey</Error>")
        wanted = request.headers.get("range")
        if wanted and self.honour_range:
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            if start >= len(data):
                return httpx.Response(416)
            return httpx.Response(
                206,
                content=data[start:],
                headers={"content-range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
            )
        return httpx.Response(200, content=data)
