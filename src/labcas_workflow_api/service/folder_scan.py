"""One folder of the staging area from a key on, with its sidecars told from its files.

``X.cfg`` is the (hidden) sidecar of ``X`` when ``X`` exists, else a file. ``X`` sorts before
``X.cfg``, so a scan in key order has met ``X`` first, unless ``X`` sorts before the scan's
start: those few are asked of the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.models import Listing, ObjectInfo
from labcas_workflow_api.storage.base import StagingStore

#: Keys asked of the store per listing call: a page's entries and as many sidecars, and some.
_MAX_CHUNK = 1000


@dataclass(frozen=True)
class Entry:
    """A sub-folder (``info`` is None, ``key`` ends with ``/``) or a file of the listing."""

    key: str
    info: ObjectInfo | None


@dataclass
class Scan:
    """The folder ``prefix`` from a key on: sub-folders and files in key order, the sidecars met
    on the way, and ``end``, the last key looked at when the folder goes on past it (None: the
    scan reached its end, so a sidecar not met does not exist)."""

    prefix: str
    entries: list[Entry] = field(default_factory=list)
    sidecars: dict[str, ObjectInfo] = field(default_factory=dict)
    end: str | None = None

    def may_have(self, key: str) -> bool:
        """Whether ``key`` may exist although the scan did not meet it (it sorts past ``end``)."""
        return self.end is not None and key > self.end


def scan(store: StagingStore, bucket: str, prefix: str, start: str | None, wanted: int) -> Scan:
    """At least ``wanted`` entries of the folder ``prefix`` after ``start`` (all there are when
    fewer), with the sidecars met on the way."""
    result = Scan(prefix)
    existing: set[str] = set() if start is None else {start}  # the keys met so far
    chunk = min(_MAX_CHUNK, 2 * wanted + 8)
    suffix = len(sidecar.SUFFIX)
    position = start
    while True:
        listing = store.list(bucket, prefix, start_after=position, limit=chunk)
        keys = _in_order(listing)
        if start is not None:
            earlier = [
                key[:-suffix]
                for key, info in keys
                if info is not None
                and key.endswith(sidecar.SUFFIX)
                and key[:-suffix] < start
                and key[:-suffix] not in existing
            ]
            if earlier:
                existing.update(store.head_many(bucket, earlier))
        for key, info in keys:
            if info is not None and key.endswith(sidecar.SUFFIX) and key[:-suffix] in existing:
                result.sidecars[key] = info
            else:
                result.entries.append(Entry(key, info))
            existing.add(key)
        result.end = keys[-1][0] if listing.truncated and keys else None
        if result.end is None or len(result.entries) >= wanted:
            return result
        position = result.end


def _in_order(listing: Listing) -> list[tuple[str, ObjectInfo | None]]:
    keys: list[tuple[str, ObjectInfo | None]] = [(p, None) for p in listing.prefixes]
    keys += [(o.key, o) for o in listing.objects]
    keys.sort(key=lambda pair: pair[0])
    return keys
