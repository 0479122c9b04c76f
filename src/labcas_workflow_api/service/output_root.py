"""The top folder of a caller's outputs: their runs' folders newest first, then the rest in
name order.

Run folders are named ``%Y%m%dT%H%M%S%f``, so newest first is reverse name order; the store
lists in name order only, so each page reads the whole level (``MAX_ENTRIES`` at most: a larger
one is listed in name order, and its cursors say so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labcas_workflow_api import cursor
from labcas_workflow_api.domain.errors import BadRequest
from labcas_workflow_api.domain.models import Run
from labcas_workflow_api.service.folder_scan import Entry, Scan, scan
from labcas_workflow_api.storage.base import StagingStore

#: Entries of the top level arranged at most; 20 listing calls of the storage.
MAX_ENTRIES = 20_000
_RUNS, _REST = 0, 1


@dataclass(frozen=True)
class Top:
    """The top level arranged: ``runs`` (folders of known runs, newest first) and ``rest``."""

    found: Scan
    runs: list[Entry]
    rest: list[Entry]

    def name(self, entry: Entry) -> str:
        return entry.key[len(self.found.prefix) :]

    def after(self, token: str | None) -> Scan:
        """The entries after the place ``token`` marks (all of them for None), as a scan of
        the whole level (a sidecar it did not meet does not exist)."""
        entries = self.runs + self.rest
        if token is not None:
            section, name = cursor.decode(token, _read_place)
            if section == _RUNS:
                entries = [e for e in self.runs if self.name(e) < name] + self.rest
            else:
                entries = [e for e in self.rest if self.name(e) > name]
        return Scan(self.found.prefix, entries, self.found.sidecars)

    def mark(self, name: str) -> str:
        """The cursor of the place after the entry ``name``."""
        known = any(self.name(e) == name for e in self.runs)
        return cursor.encode({"top": [_RUNS if known else _REST, name]})


def arrange(store: StagingStore, bucket: str, prefix: str, runs: Mapping[str, Run]) -> Top | None:
    """The top level ``prefix`` with the folders of ``runs`` (by folder name, ``x/``) first;
    None when it has more than ``MAX_ENTRIES`` entries."""
    found = scan(store, bucket, prefix, None, MAX_ENTRIES + 1)
    if found.end is not None or len(found.entries) > MAX_ENTRIES:
        return None
    size = len(prefix)
    first = [e for e in found.entries if e.info is None and e.key[size:] in runs]
    first.sort(key=lambda e: e.key, reverse=True)
    known = {e.key for e in first}
    return Top(found, first, [e for e in found.entries if e.key not in known])


def arranged(token: str | None) -> bool:
    """Whether the page after ``token`` is one of the arranged top level: not when ``token``
    is a place in name order (a page of a level too large to arrange, or no cursor of ours)."""
    if token is None:
        return True
    try:
        cursor.decode(token, _read_place)
    except BadRequest:
        return False
    return True


def _read_place(document: Any) -> tuple[int, str]:
    if not isinstance(document, dict) or set(document) != {"top"}:
        raise TypeError(document)
    section, name = document["top"]
    if section not in (_RUNS, _REST) or not isinstance(name, str) or not name:
        raise ValueError(document)
    return section, name
