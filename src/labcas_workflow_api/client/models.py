"""Typed views of the API's answers, and parameter conversion/validation by JSON Schema."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_SCHEMA_KEYS = (
    "type",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "items",
    "minItems",
    "maxItems",
    "format",
)
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
FINISHED = frozenset({"success", "failed"})


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp from the API as an aware datetime (None when absent or unparsable)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DataSelection:
    """A collection the caller may run at least one workflow on."""

    id: str
    description: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataSelection:
        return cls(id=str(data["id"]), description=_str_or_none(data.get("description")))


@dataclass(frozen=True)
class WorkflowSummary:
    """A workflow as listed (id and description)."""

    id: str
    description: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowSummary:
        return cls(id=str(data["id"]), description=_str_or_none(data.get("description")))


_BOUNDS = (
    ("minimum", "at least"),
    ("exclusiveMinimum", "more than"),
    ("maximum", "at most"),
    ("exclusiveMaximum", "less than"),
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _within(key: str, value: float, bound: float) -> bool:
    if key == "minimum":
        return value >= bound
    if key == "exclusiveMinimum":
        return value > bound
    if key == "maximum":
        return value <= bound
    return value < bound


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _matches_type(value: Any, type_: str) -> bool:
    actual = _type_name(value)
    if type_ == "number":
        return actual in ("integer", "number")
    if type_ == "integer" and actual == "number":
        return float(value).is_integer()
    return actual == type_


@dataclass(frozen=True)
class ParameterSpec:
    """One workflow parameter: default, description and its JSON Schema."""

    name: str
    default: Any = None
    description: str | None = None
    schema: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, name: str, data: Any) -> ParameterSpec:
        if not isinstance(data, dict):
            return cls(name=name, default=data)
        schema = dict(data.get("schema") or {})
        for key in _SCHEMA_KEYS:  # issue 3 servers may lift schema keys to the top level
            if key in data and key not in schema:
                schema[key] = data[key]
        default = data.get("default", schema.get("default"))
        description = data.get("description") or schema.get("description")
        return cls(name, default, _str_or_none(description), schema)

    @property
    def types(self) -> list[str]:
        declared = self.schema.get("type")
        if isinstance(declared, str):
            return [declared]
        if isinstance(declared, list):
            return [str(t) for t in declared]
        if "enum" in self.schema:
            return []
        inferred = _type_name(self.default)
        return [] if inferred == "null" else [inferred]

    @property
    def type(self) -> str | None:
        """The main (non-null) type, or None when the schema does not say."""
        return next((t for t in self.types if t != "null"), None)

    @property
    def nullable(self) -> bool:
        return "null" in self.types

    @property
    def enum(self) -> list[Any] | None:
        values = self.schema.get("enum")
        return list(values) if isinstance(values, list) else None

    def bounds_text(self) -> str:
        """A short human summary of the constraints (for tables and forms)."""
        parts: list[str] = []
        s = self.schema
        if self.enum is not None:
            parts.append("one of " + ", ".join(json.dumps(v) for v in self.enum))
        for key, sign in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        ):
            if isinstance(s.get(key), int | float) and not isinstance(s.get(key), bool):
                parts.append(f"{sign} {s[key]}")
        if "minLength" in s:
            parts.append(f"length >= {s['minLength']}")
        if "maxLength" in s:
            parts.append(f"length <= {s['maxLength']}")
        if "pattern" in s:
            parts.append(f"matches {s['pattern']}")
        return ", ".join(parts)

    def convert(self, text: str) -> Any:
        """Turn a command-line string into a value of this parameter's type.

        Raises ValueError with a message naming the parameter.
        """
        if self.nullable and text.strip().lower() in ("null", "none"):
            return None
        if self.enum is not None and self.type is None:
            for option in self.enum:
                if text == str(option) or text == json.dumps(option):
                    return option
            return text
        return self._convert_as(self.type, text, self.schema)

    def _convert_as(self, type_: str | None, text: str, schema: dict[str, Any]) -> Any:
        name = self.name
        stripped = text.strip()
        if type_ == "integer":
            try:
                return int(stripped)
            except ValueError:
                try:
                    number = float(stripped)
                except ValueError:
                    number = float("nan")
                if number.is_integer():
                    return int(number)
                raise ValueError(f"{name} must be a whole number, not {text!r}") from None
        if type_ == "number":
            try:
                return int(stripped)
            except ValueError:
                pass
            try:
                return float(stripped)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {text!r}") from None
        if type_ == "boolean":
            lowered = stripped.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(f"{name} must be true or false, not {text!r}")
        if type_ == "array":
            if stripped.startswith("["):
                value = self._json(text)
                if not isinstance(value, list):
                    raise ValueError(f"{name} must be a list")
                return value
            raw_items = schema.get("items")
            items: dict[str, Any] = raw_items if isinstance(raw_items, dict) else {}
            item_type = items.get("type") if isinstance(items.get("type"), str) else None
            parts = [p.strip() for p in text.split(",")] if stripped else []
            return [self._convert_as(item_type, p, items) for p in parts]
        if type_ == "object":
            value = self._json(text)
            if not isinstance(value, dict):
                raise ValueError(f"{name} must be a JSON object")
            return value
        return text

    def _json(self, text: str) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.name} is not valid JSON: {exc.msg}") from None

    def problems(self, value: Any) -> list[str]:
        """What is wrong with ``value`` for this parameter (empty when it is valid)."""
        name, s = self.name, self.schema
        if value is None and (self.nullable or not self.types):
            return []
        types = self.types
        if types and not any(_matches_type(value, t) for t in types):
            wanted = " or ".join(types)
            return [f"{name} must be of type {wanted}, not {_type_name(value)}"]
        out: list[str] = []
        if self.enum is not None and value not in self.enum:
            options = ", ".join(json.dumps(v) for v in self.enum)
            out.append(f"{name} must be one of {options}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            for key, words in _BOUNDS:
                bound = s.get(key)
                if (
                    isinstance(bound, int | float)
                    and _is_number(bound)
                    and not _within(key, value, bound)
                ):
                    out.append(f"{name} must be {words} {bound}, not {value}")
        if isinstance(value, str):
            if isinstance(s.get("minLength"), int) and len(value) < s["minLength"]:
                out.append(f"{name} must have at least {s['minLength']} characters")
            if isinstance(s.get("maxLength"), int) and len(value) > s["maxLength"]:
                out.append(f"{name} must have at most {s['maxLength']} characters")
            pattern = s.get("pattern")
            if isinstance(pattern, str):
                try:
                    if not re.search(pattern, value):
                        out.append(f"{name} must match {pattern}")
                except re.error:
                    pass
        if isinstance(value, list):
            if isinstance(s.get("minItems"), int) and len(value) < s["minItems"]:
                out.append(f"{name} must have at least {s['minItems']} items")
            if isinstance(s.get("maxItems"), int) and len(value) > s["maxItems"]:
                out.append(f"{name} must have at most {s['maxItems']} items")
        return out


@dataclass(frozen=True)
class WorkflowDetail:
    """A workflow with its parameters and the data selections it may run on."""

    id: str
    description: str | None
    parameters: dict[str, ParameterSpec]
    schedule: str | None = None
    paused: bool = False
    data_selections: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowDetail:
        params = data.get("parameters") or {}
        selections = [
            str(d.get("id")) if isinstance(d, dict) else str(d)
            for d in data.get("data_selections") or []
        ]
        return cls(
            id=str(data["id"]),
            description=_str_or_none(data.get("description")),
            parameters={n: ParameterSpec.from_json(n, p) for n, p in params.items()},
            schedule=_str_or_none(data.get("schedule")),
            paused=bool(data.get("paused", False)),
            data_selections=selections,
            raw=data,
        )

    def check_params(self, params: dict[str, Any]) -> list[str]:
        """Client-side validation of a parameter set: unknown names and schema violations."""
        out: list[str] = []
        for key, value in params.items():
            spec = self.parameters.get(key)
            if spec is None:
                known = ", ".join(sorted(self.parameters)) or "none"
                out.append(f"unknown parameter {key!r} (parameters of {self.id}: {known})")
            else:
                out.extend(spec.problems(value))
        return out


@dataclass(frozen=True)
class TaskInfo:
    """One task of a run (when the engine reports tasks)."""

    task_id: str
    state: str | None
    start_time: str | None = None
    end_time: str | None = None
    duration: float | None = None
    try_number: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskInfo:
        duration = data.get("duration")
        try_number = data.get("try_number")
        return cls(
            task_id=str(data.get("task_id") or data.get("id")),
            state=_str_or_none(data.get("state") or data.get("status")),
            start_time=_str_or_none(data.get("start_time")),
            end_time=_str_or_none(data.get("end_time")),
            duration=float(duration) if isinstance(duration, int | float) else None,
            try_number=try_number if isinstance(try_number, int) else None,
        )


@dataclass(frozen=True)
class RunInfo:
    """A run of a workflow; ``tasks`` is None when the server does not report task details."""

    run_id: str
    workflow_id: str
    status: str
    start_time: str | None = None
    end_time: str | None = None
    output_url: str | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    tasks: list[TaskInfo] | None = None
    progress: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], workflow_id: str = "") -> RunInfo:
        tasks = data.get("tasks")
        progress = data.get("progress")
        return cls(
            run_id=str(data["run_id"]),
            workflow_id=str(data.get("workflow_id") or workflow_id),
            status=str(data.get("status") or "unknown"),
            start_time=_str_or_none(data.get("start_time")),
            end_time=_str_or_none(data.get("end_time")),
            output_url=_str_or_none(data.get("output_url")),
            conf=dict(data.get("conf") or {}),
            tasks=[TaskInfo.from_json(t) for t in tasks] if isinstance(tasks, list) else None,
            progress=progress if isinstance(progress, dict) else None,
            raw=data,
        )

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (or to now while running)."""
        start = parse_time(self.start_time)
        if start is None:
            return None
        end = parse_time(self.end_time) or (None if self.finished else datetime.now(UTC))
        return None if end is None else max(0.0, (end - start).total_seconds())

    def progress_text(self) -> str | None:
        """``"3/7 tasks"`` from the progress summary or the task list, if known."""
        if self.progress:
            done = self.progress.get("done", self.progress.get("tasks_done"))
            total = self.progress.get("total", self.progress.get("tasks_total"))
            if done is not None and total is not None:
                return f"{done}/{total} tasks"
        if self.tasks:
            done = sum(1 for t in self.tasks if t.state in ("success", "skipped", "failed"))
            return f"{done}/{len(self.tasks)} tasks"
        return None


@dataclass(frozen=True)
class RunStarted:
    """The answer to starting a run."""

    run_id: str
    workflow_id: str
    status: str
    output_url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], workflow_id: str = "") -> RunStarted:
        return cls(
            run_id=str(data["run_id"]),
            workflow_id=str(data.get("workflow_id") or workflow_id),
            status=str(data.get("status") or "queued"),
            output_url=_str_or_none(data.get("output_url")),
            raw=data,
        )


@dataclass(frozen=True)
class FileEntry:
    """A data file of an output folder; ``href`` is a presigned download URL."""

    name: str
    href: str
    size: int | None = None
    last_modified: str | None = None
    properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> FileEntry:
        size = data.get("size")
        return cls(
            name=name,
            href=str(data.get("href") or ""),
            size=size if isinstance(size, int) else None,
            last_modified=_str_or_none(data.get("last_modified")),
            properties={str(k): str(v) for k, v in (data.get("properties") or {}).items()},
        )


@dataclass(frozen=True)
class FolderEntry:
    """A sub-folder of an output folder."""

    name: str
    href: str | None = None


@dataclass(frozen=True)
class OutputListing:
    """One folder of the caller's staging area (all pages merged)."""

    path: str
    prefix: str
    folders: list[FolderEntry]
    files: list[FileEntry]

    def file(self, name: str) -> FileEntry | None:
        return next((f for f in self.files if f.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "prefix": self.prefix,
            "folders": {f.name: {"href": f.href} for f in self.folders},
            "files": {
                f.name: {
                    "href": f.href,
                    "size": f.size,
                    "last_modified": f.last_modified,
                    "properties": f.properties,
                }
                for f in self.files
            },
        }


@dataclass(frozen=True)
class DownloadResult:
    """What happened to one file of a download: downloaded, resumed or skipped."""

    path: str
    dest: str
    outcome: str
    bytes_transferred: int
    size: int
