"""What one folder of the staging area holds from a place on, as data: the scan that a page
of an output listing is built from.

A folder holds sub-folders and objects. An object ``X.cfg`` is the metadata sidecar of ``X``
when an object ``X`` exists, and is hidden; any other object, ``.cfg`` or not, is a file of the
listing. ``X`` sorts before ``X.cfg``, so a scan that walks the folder in key order knows
whether ``X`` exists when it meets ``X.cfg``, except when ``X`` sorts before the place the
scan started from: those few (``X`` is then a leading part of that place) are asked of the
store.
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
    """The folder ``prefix`` from the key ``start`` on (from its beginning when None).

    ``entries``: the sub-folders and files in key order, at least as many as asked for when
    the folder has them. ``sidecars``: every sidecar met on the way, by key. ``end``: the last
    key looked at when the folder goes on past it, None when the scan reached its end (then
    a sidecar not in ``sidecars`` does not exist).
    """

    prefix: str
    start: str | None
    entries: list[Entry] = field(default_factory=list)
    sidecars: dict[str, ObjectInfo] = field(default_factory=dict)
    end: str | None = None

    def may_have(self, key: str) -> bool:
        """Whether ``key`` may exist although the scan did not meet it (it sorts past ``end``)."""
        return self.end is not None and key > self.end


def scan(store: StagingStore, bucket: str, prefix: str, start: str | None, wanted: int) -> Scan:
    """At least ``wanted`` entries of the folder ``prefix`` after ``start`` (all there are when
    fewer), with the sidecars met on the way."""
    result = Scan(prefix, start)
    existing: set[str] = set() if start is None else {start}
    chunk = min(_MAX_CHUNK, 2 * wanted + 8)
    position = start
    while True:
        listing = store.list(bucket, prefix, start_after=position, limit=chunk)
        keys = _in_order(listing)
        _classify(store, bucket, result, keys, existing)
        result.end = keys[-1][0] if listing.truncated and keys else None
        if result.end is None or len(result.entries) >= wanted:
            return result
        position = result.end


def _in_order(listing: Listing) -> list[tuple[str, ObjectInfo | None]]:
    keys: list[tuple[str, ObjectInfo | None]] = [(p, None) for p in listing.prefixes]
    keys += [(o.key, o) for o in listing.objects]
    keys.sort(key=lambda pair: pair[0])
    return keys


def _classify(
    store: StagingStore,
    bucket: str,
    result: Scan,
    keys: list[tuple[str, ObjectInfo | None]],
    existing: set[str],
) -> None:
    """Add one listed chunk to ``result``; ``existing``: the object keys met so far."""
    suffix = len(sidecar.SUFFIX)
    if result.start is not None:
        earlier = [
            key[:-suffix]
            for key, info in keys
            if info is not None
            and key.endswith(sidecar.SUFFIX)
            and key[:-suffix] < result.start
            and key[:-suffix] not in existing
        ]
        if earlier:
            existing.update(store.head_many(bucket, earlier))
    entries, sidecars = result.entries, result.sidecars
    for key, info in keys:
        if info is None:
            entries.append(Entry(key, None))
            continue
        if key.endswith(sidecar.SUFFIX) and key[:-suffix] in existing:
            sidecars[key] = info
        else:
            entries.append(Entry(key, info))
        existing.add(key)
