"""Run listings in pages: newest first, and a cursor marking a place in that order (so runs
started meanwhile do not shift the pages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from labcas_workflow_api import cursor as codec
from labcas_workflow_api.domain.models import Run

_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunPage:
    """One page of a run listing; ``next_cursor`` is None on the last page."""

    runs: list[Run]
    next_cursor: str | None = None


def newest_first(runs: list[Run]) -> list[Run]:
    """``runs`` newest first: by time queued (or start time), then run id, then workflow. The
    time queued does not move when the run starts, so neither does its place."""
    return sorted(runs, key=_place, reverse=True)


def page(
    runs: list[Run], *, limit: int | None, cursor: str | None, across: bool = False
) -> RunPage:
    """The runs (newest first) after ``cursor``: all of them, or ``limit``, with the cursor of
    the next page. A cursor marks a place in one workflow's runs, or ``across`` workflows;
    BadRequest for any other token."""
    if cursor is not None:
        after = codec.decode(cursor, _reader(3 if across else 2))
        runs = [r for r in runs if _place(r)[: len(after)] < after]
    if limit is None or len(runs) <= limit:
        return RunPage(runs)
    shown = runs[:limit]
    moment, run_id, workflow_id = _place(shown[-1])
    place: list[str] = [moment.isoformat(), run_id] + ([workflow_id] if across else [])
    return RunPage(shown, codec.encode(place))


def _reader(size: int) -> Any:
    def read(document: Any) -> tuple[Any, ...]:
        if not isinstance(document, list) or len(document) != size:
            raise TypeError(document)
        moment, *names = document
        when = datetime.fromisoformat(moment)
        if when.tzinfo is None or not all(isinstance(name, str) for name in names):
            raise ValueError(document)
        return (when, *names)

    return read


def _place(run: Run) -> tuple[datetime, str, str]:
    moment = run.queued_at or run.start_time or _EPOCH
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment, run.run_id, run.workflow_id)
