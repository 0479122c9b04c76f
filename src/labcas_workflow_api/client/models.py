"""Client behaviour over the wire models: parameters from text, checked as the server does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jsonschema

from labcas_workflow_api import wire

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
_JSON_TYPES = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}
#: How the command line words a broken JSON Schema keyword: {name}, {bound}, {value}.
_WORDING = {
    "minimum": "{name} must be at least {bound}, not {value}",
    "exclusiveMinimum": "{name} must be more than {bound}, not {value}",
    "maximum": "{name} must be at most {bound}, not {value}",
    "exclusiveMaximum": "{name} must be less than {bound}, not {value}",
    "minLength": "{name} must have at least {bound} characters",
    "maxLength": "{name} must have at most {bound} characters",
    "minItems": "{name} must have at least {bound} items",
    "maxItems": "{name} must have at most {bound} items",
    "pattern": "{name} must match {bound}",
}


def _type_name(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _number(text: str) -> int | float | None:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def aware(moment: datetime) -> datetime:
    """``moment`` with a time zone (UTC when the server sent none)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ParameterSpec:
    """A workflow parameter as the command line uses it (typed by its schema, else its default)."""

    name: str
    parameter: wire.Parameter

    @property
    def schema(self) -> dict[str, Any]:
        return self.parameter.schema_

    @property
    def types(self) -> list[str]:
        declared = self.schema.get("type")
        if isinstance(declared, str):
            return [declared]
        if isinstance(declared, list):
            return [str(t) for t in declared]
        if "enum" in self.schema:
            return []
        inferred = _type_name(self.parameter.default)
        return [] if inferred == "null" else [inferred]

    @property
    def type(self) -> str | None:
        """The main (non-null) type, or None when neither the schema nor the default says."""
        return next((t for t in self.types if t != "null"), None)

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
        """A command-line string as a value of this parameter's type (else ValueError)."""
        if "null" in self.types and text.strip().lower() in ("null", "none"):
            return None
        if self.enum is not None and self.type is None:
            return next((o for o in self.enum if text in (str(o), json.dumps(o))), text)
        return self._convert_as(self.type, text, self.schema)

    def _convert_as(self, type_: str | None, text: str, schema: dict[str, Any]) -> Any:
        name = self.name
        stripped = text.strip()
        if type_ == "integer":
            number = _number(stripped)
            if isinstance(number, int) or (number is not None and number.is_integer()):
                return int(number)
            raise ValueError(f"{name} must be a whole number, not {text!r}")
        if type_ == "number":
            if (number := _number(stripped)) is None:
                raise ValueError(f"{name} must be a number, not {text!r}")
            return number
        if type_ == "boolean":
            lowered = stripped.lower()
            if lowered in _TRUE or lowered in _FALSE:
                return lowered in _TRUE
            raise ValueError(f"{name} must be true or false, not {text!r}")
        if type_ == "object" or (type_ == "array" and stripped.startswith("[")):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name} is not valid JSON: {exc.msg}") from None
            if type_ == "object" and not isinstance(value, dict):
                raise ValueError(f"{name} must be a JSON object")
            if type_ == "array" and not isinstance(value, list):
                raise ValueError(f"{name} must be a list")
            return value
        if type_ == "array":
            raw_items = schema.get("items")
            items: dict[str, Any] = raw_items if isinstance(raw_items, dict) else {}
            item_type = items.get("type") if isinstance(items.get("type"), str) else None
            parts = [p.strip() for p in text.split(",")] if stripped else []
            return [self._convert_as(item_type, p, items) for p in parts]
        return text

    def problems(self, value: Any) -> list[str]:
        """What ``value`` breaks of the schema (an invalid schema: nothing, as the server does)."""
        checker = jsonschema.validators.validator_for(self.schema)
        try:
            checker.check_schema(self.schema)
        except jsonschema.SchemaError:
            return []
        return [self._wording(e) for e in checker(self.schema).iter_errors(value)]

    def _wording(self, error: jsonschema.ValidationError) -> str:
        name, bound, value = self.name, error.validator_value, error.instance
        if error.path:
            return f"{name}: {error.message}"
        if error.validator == "type":
            wanted = " or ".join(bound) if isinstance(bound, list) else bound
            return f"{name} must be of type {wanted}, not {_type_name(value)}"
        if error.validator == "enum":
            return f"{name} must be one of " + ", ".join(json.dumps(v) for v in bound)
        wording = _WORDING.get(str(error.validator))
        if wording is None:
            return f"{name}: {error.message}"
        return wording.format(name=name, bound=bound, value=value)


def check_params(detail: wire.WorkflowDetail, params: dict[str, Any]) -> list[str]:
    """What is wrong with a parameter set: unknown names, values breaking their schema."""
    out: list[str] = []
    for key, value in params.items():
        parameter = detail.parameters.get(key)
        if parameter is None:
            out.append(unknown_parameter(detail, key))
        else:
            out.extend(ParameterSpec(key, parameter).problems(value))
    return out


def unknown_parameter(detail: wire.WorkflowDetail, key: str) -> str:
    known = ", ".join(sorted(detail.parameters)) or "none"
    return f"unknown parameter {key!r} (parameters of {detail.id}: {known})"


def run_duration(run: wire.Run) -> float | None:
    """Seconds from start to end (or to now while the run goes on)."""
    if run.start_time is None or (run.end_time is None and run.status.finished):
        return None
    end = datetime.now(UTC) if run.end_time is None else aware(run.end_time)
    return max(0.0, (end - aware(run.start_time)).total_seconds())


def progress_text(run: wire.RunDetail) -> str:
    """``"3/7 tasks"`` (finished, of all), or for a run that failed or was cancelled how many
    succeeded: ``"cancelled after 2 of 7 tasks"``."""
    if run.status in ("cancelled", "failed"):
        succeeded = sum(1 for task in run.tasks if task.state == "success")
        return f"{run.status.value} after {succeeded} of {run.progress.total} tasks"
    return f"{run.progress.done}/{run.progress.total} tasks"


@dataclass(frozen=True)
class DownloadResult:
    """What happened to one file of a download: downloaded, resumed or skipped."""

    path: str
    dest: str
    outcome: str
    bytes_transferred: int
    size: int
