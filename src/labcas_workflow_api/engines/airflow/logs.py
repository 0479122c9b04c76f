"""Airflow's task logs as text: Airflow 3's structured records in Airflow's classic line format."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx

log = logging.getLogger(__name__)


def log_chunks(response: httpx.Response, log_format: str) -> Iterator[bytes]:
    """The log text of a streamed answer in ``log_format`` (``ndjson`` or ``text``); a stream
    that breaks off ends with a note in the text. Closes the response."""
    try:
        if log_format == "ndjson":
            for line in response.iter_lines():
                if line.strip():
                    yield log_line(line).encode()
        else:
            yield from response.iter_bytes()
    except httpx.HTTPError as exc:
        log.warning("task log stream from Airflow broke off: %s", exc)
        yield f"\n[LabCAS: the log stream from Airflow broke off: {exc}]\n".encode()
    finally:
        response.close()


# Keys of a structured record shown in the line's head, or repeated on every line (context).
_LOG_HEAD = frozenset({"timestamp", "event", "level", "logger", "filename", "lineno"})
_LOG_CONTEXT = frozenset({"dag_id", "run_id", "task_id", "try_number", "map_index", "ti_id"})
_LOG_SKIPPED = _LOG_HEAD | _LOG_CONTEXT | {"error_detail", "sources"}


def log_line(line: str) -> str:
    """One Airflow 3 structured log record as a line in Airflow's classic text format,
    ``[time] {file.py:12} INFO - event key=value``, followed by a traceback for an error."""
    try:
        record = json.loads(line)
    except ValueError:
        return line + "\n"
    if not isinstance(record, dict):
        return line + "\n"
    head = []
    if record.get("timestamp"):
        head.append(f"[{record['timestamp']}]")
    if record.get("filename"):
        where = f"{record['filename']}:{record['lineno']}" if record.get("lineno") else ""
        head.append("{" + (where or str(record["filename"])) + "}")
    if record.get("level"):
        head.append(str(record["level"]).upper())
    event = str(record.get("event", ""))
    extras = [
        f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}"
        for k, v in record.items()
        if k not in _LOG_SKIPPED
    ]
    out = " ".join([f"{' '.join(head)} - {event}" if head else event, *extras]) + "\n"
    sources = record.get("sources")
    if isinstance(sources, list):
        out += "".join(f"  {source}\n" for source in sources)
    return out + traceback_text(record.get("error_detail"))


def traceback_text(detail: Any) -> str:
    """Airflow 3's ``error_detail`` (a list of exceptions with frames) as a Python traceback."""
    if not isinstance(detail, list):
        return ""
    out = ""
    for exc in detail:
        if not isinstance(exc, dict):
            continue
        out += "Traceback (most recent call last):\n"
        for frame in exc.get("frames") or []:
            if isinstance(frame, dict):
                out += (
                    f'  File "{frame.get("filename")}", line {frame.get("lineno")}, '
                    f"in {frame.get('name')}\n"
                )
        out += f"{exc.get('exc_type', 'Error')}: {exc.get('exc_value', '')}\n"
    return out
