"""A caller's run outputs in the staging bucket: browse folders, annotate files with sidecars."""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import unquote_to_bytes

from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.errors import BadRequest, NotFound
from labcas_workflow_api.domain.models import ObjectInfo
from labcas_workflow_api.storage.base import StagingStore

MAX_PATH_BYTES = 1024
MAX_FILES_PER_ANNOTATION = 1000
_MAX_DECODE_ROUNDS = 4
_PERCENT_U = re.compile(r"%u([0-9A-Fa-f]{4})")
_DRIVE = re.compile(r"^[A-Za-z]:")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class FolderEntry:
    """A sub-folder: ``name`` ends with ``/``; ``path`` is relative to the caller's area."""

    name: str
    path: str


@dataclass(frozen=True)
class FileEntry:
    """A data file with its presigned download URL and its sidecar's properties."""

    name: str
    path: str
    size: int
    last_modified: datetime
    url: str
    properties: dict[str, str]


@dataclass(frozen=True)
class FolderView:
    """One page of a folder; ``prefix`` is the folder relative to the caller's area."""

    prefix: str
    folders: list[FolderEntry]
    files: list[FileEntry]
    next_cursor: str | None = None


class LRUCache(Generic[K, V]):
    """A small thread-safe LRU map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def normalize_path(raw: str) -> str:
    """A safe relative folder path ('' for the root), without leading or trailing slash.

    ``BadRequest`` naming the problem for ``..`` or ``.`` segments in any encoding (percent,
    double percent, ``%u``, overlong UTF-8, fullwidth dots), absolute paths, backslashes,
    control characters, empty segments and paths longer than 1024 bytes.
    """
    if not isinstance(raw, str):
        raise BadRequest("path must be a string")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise BadRequest(f"path longer than {MAX_PATH_BYTES} bytes")
    for variant in _decodings(raw):
        _check_variant(variant)
        _check_variant(unicodedata.normalize("NFKC", variant))
    return raw[:-1] if raw.endswith("/") else raw


def _decodings(raw: str) -> Iterator[str]:
    """The path as given, then percent-decoded again and again until it stops changing."""
    current = raw
    yield current
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = _percent_decode(current)
        if decoded == current:
            return
        current = decoded
        yield current
    raise BadRequest("path is percent-encoded too many times")


def _percent_decode(text: str) -> str:
    text = _PERCENT_U.sub(lambda m: chr(int(m.group(1), 16)), text)
    if "%" not in text:
        return text
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("path has percent-encoding that is not valid UTF-8") from None


def _check_variant(path: str) -> None:
    for ch in path:
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp"):
            raise BadRequest("path contains control characters")
        if category == "Cs" or ch == "\ufffd":
            raise BadRequest("path contains invalid (e.g. overlong) UTF-8")
    if "\\" in path:
        raise BadRequest("path contains a backslash")
    if path.startswith("/") or _DRIVE.match(path):
        raise BadRequest("path must be relative")
    body = path[:-1] if path.endswith("/") else path
    if not body:
        return
    for segment in body.split("/"):
        if segment.strip() in (".", ".."):
            raise BadRequest(f"path contains a {segment.strip()!r} segment")
        if not segment:
            raise BadRequest("path contains an empty segment ('//')")


def _check_username(username: str) -> None:
    if (
        not username
        or "/" in username
        or "\\" in username
        or username in (".", "..")
        or any(unicodedata.category(ch) in ("Cc", "Cs") for ch in username)
    ):
        raise BadRequest("invalid username for an output area")


def _encode_cursor(store_cursor: str | None, after: str) -> str:
    raw = json.dumps({"c": store_cursor, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str | None, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise BadRequest("invalid cursor") from None
    if not isinstance(document, dict):
        raise BadRequest("invalid cursor")
    store_cursor, after = document.get("c"), document.get("a")
    if not isinstance(after, str) or not (store_cursor is None or isinstance(store_cursor, str)):
        raise BadRequest("invalid cursor")
    return store_cursor, after


@dataclass
class _Entry:
    key: str
    info: ObjectInfo | None  # None for a sub-folder
    chunk: str | None  # store cursor that lists this entry again


def _visible(entry: _Entry, prefix: str) -> bool:
    """A folder, or a data file (not a sidecar, not a folder placeholder)."""
    if entry.info is None:
        return True
    key = entry.key
    return not (key == prefix or key.endswith("/") or sidecar.is_sidecar(key))


class OutputService:
    """Browse and annotate a caller's outputs, rooted at ``<username>/`` in ``bucket``.

    Parsed sidecars are cached by (key, ETag) and presigned URLs until half their lifetime,
    so a repeat browse of an unchanged folder costs little more than its listing. Methods
    raise ``BadRequest``, ``NotFound`` and the store's ``UpstreamError`` subclasses.
    """

    def __init__(
        self,
        store: StagingStore,
        bucket: str,
        presign_ttl: int,
        *,
        cache_size: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.bucket = bucket
        self.presign_ttl = presign_ttl
        self.clock = clock
        self.sidecars: LRUCache[tuple[str, str], dict[str, str]] = LRUCache(cache_size)
        self.urls: LRUCache[str, tuple[str, float]] = LRUCache(cache_size)

    normalize_path = staticmethod(normalize_path)

    def _prefix(self, username: str, path: str) -> tuple[str, str]:
        _check_username(username)
        rel = path.strip("/")
        return (f"{rel}/" if rel else ""), f"{username}/{rel}/" if rel else f"{username}/"

    # -- browse ----------------------------------------------------------------------------

    def browse(
        self, username: str, path: str, *, limit: int | None = None, cursor: str | None = None
    ) -> FolderView:
        """One folder (a page of it with ``limit``); ``NotFound`` when nothing is under it."""
        if limit is not None and limit < 1:
            raise BadRequest("limit must be at least 1")
        rel, prefix = self._prefix(username, path)
        store_cursor, after = _decode_cursor(cursor) if cursor else (None, "")
        after_key = prefix + after if cursor else None

        page: list[_Entry] = []
        seen_sidecars: dict[str, ObjectInfo] = {}
        next_cursor: str | None = None
        scanned_any = False
        last_scanned = ""
        for chunk in self._chunks(prefix, store_cursor, limit):
            scanned_any = scanned_any or bool(chunk)
            for index, entry in enumerate(chunk):
                if after_key is not None and entry.key <= after_key:
                    continue
                if limit is not None and len(page) >= limit and _visible(entry, prefix):
                    last = page[-1]
                    next_cursor = _encode_cursor(last.chunk, last.key[len(prefix) :])
                    # the rest of this chunk is fetched already: take the page's sidecars
                    # from it; those sorting further are fetched directly below
                    for rest in chunk[index:]:
                        last_scanned = rest.key
                        if rest.info is not None and sidecar.is_sidecar(rest.key):
                            seen_sidecars[rest.key] = rest.info
                    break
                last_scanned = entry.key
                if entry.info is not None and sidecar.is_sidecar(entry.key):
                    seen_sidecars[entry.key] = entry.info
                elif _visible(entry, prefix):
                    page.append(entry)
            if next_cursor is not None:
                break

        empty = not scanned_any and cursor is None and rel
        if empty and self.store.head(self.bucket, prefix) is None:
            raise NotFound(f"no such folder: {rel}")

        folders = [
            FolderEntry(e.key[len(prefix) :], rel + e.key[len(prefix) :])
            for e in page
            if e.info is None
        ]
        data = [e.info for e in page if e.info is not None]
        properties = self._properties(
            data, seen_sidecars, last_scanned, complete=next_cursor is None
        )
        files = [
            FileEntry(
                name=info.key[len(prefix) :],
                path=rel + info.key[len(prefix) :],
                size=info.size,
                last_modified=info.last_modified,
                url=self._url(info.key),
                properties=dict(properties.get(info.key, {})),
            )
            for info in data
        ]
        return FolderView(rel, folders, files, next_cursor)

    def _chunks(
        self, prefix: str, store_cursor: str | None, limit: int | None
    ) -> Iterator[list[_Entry]]:
        """The entries under ``prefix`` in key order, from ``store_cursor`` on, chunk by chunk."""
        size = None if limit is None else min(1000, 2 * limit + 8)
        current = store_cursor
        while True:
            listing = self.store.list(self.bucket, prefix, limit=size, cursor=current)
            merged = [_Entry(p, None, current) for p in listing.prefixes]
            merged += [_Entry(o.key, o, current) for o in listing.objects]
            merged.sort(key=lambda e: e.key)
            yield merged
            if not listing.next_cursor:
                return
            current = listing.next_cursor

    def _properties(
        self,
        data: list[ObjectInfo],
        seen: dict[str, ObjectInfo],
        last_scanned: str,
        *,
        complete: bool,
    ) -> dict[str, dict[str, str]]:
        """Sidecar properties per data key: cached by ETag, else fetched concurrently."""
        result: dict[str, dict[str, str]] = {}
        to_fetch: dict[str, str] = {}  # sidecar key -> data key
        beyond: dict[str, str] = {}  # sidecar key -> data key, not seen in the listing
        for info in data:
            key = sidecar.sidecar_key(info.key)
            found = seen.get(key)
            if found is None:
                if not complete and key > last_scanned:
                    beyond[key] = info.key
                continue
            cached = self.sidecars.get((key, found.etag)) if found.etag else None
            if cached is not None:
                result[info.key] = cached
            else:
                to_fetch[key] = info.key
        if to_fetch or beyond:
            fetched = self.store.get_many(self.bucket, [*to_fetch, *beyond])
            for key, data_key in [*to_fetch.items(), *beyond.items()]:
                read = fetched.get(key)
                if read is None:
                    continue
                props = sidecar.parse(read.body, data_key.rpartition("/")[2], where=key)
                if read.etag:
                    # under the ETag of what was read: a writer may have replaced the sidecar
                    # since the listing, and its old ETag must not name the new content
                    self.sidecars.put((key, read.etag), props)
                result[data_key] = props
        return result

    def _url(self, key: str) -> str:
        now = self.clock()
        cached = self.urls.get(key)
        if cached is not None and now < cached[1]:
            return cached[0]
        url = self.store.presign_get(self.bucket, key, self.presign_ttl)
        self.urls.put(key, (url, now + self.presign_ttl / 2))
        return url

    # -- annotate --------------------------------------------------------------------------

    def annotate(self, username: str, path: str, files: dict[str, Any]) -> list[str]:
        """Replace the properties of each named file (``{name: {key: value}}``).

        Everything is validated before anything is written: ``BadRequest`` for a bad name,
        key or value, ``NotFound`` naming the first data file that does not exist. Each
        sidecar is written whole, in one PUT.
        """
        rel, prefix = self._prefix(username, path)
        if not isinstance(files, dict) or not files:
            raise BadRequest("files must name at least one file")
        if len(files) > MAX_FILES_PER_ANNOTATION:
            raise BadRequest(f"at most {MAX_FILES_PER_ANNOTATION} files per request")
        bodies: dict[str, bytes] = {}
        for name, properties in files.items():
            sidecar.check_data_name(name)
            if not isinstance(properties, dict):
                raise BadRequest(f"files.{name}.properties must be an object")
            try:
                sidecar.check_properties(properties)
            except BadRequest as exc:
                raise BadRequest(f"files.{name}: {exc.detail}") from None
            bodies[name] = sidecar.render(name, properties)
        if len((prefix + max(files, key=len) + sidecar.SUFFIX).encode()) > MAX_PATH_BYTES:
            raise BadRequest("file path too long for a sidecar")
        for name in files:
            if self.store.head(self.bucket, prefix + name) is None:
                raise NotFound(f"no such file: {rel}{name}")
        for name, body in bodies.items():
            self.store.put(
                self.bucket, sidecar.sidecar_key(prefix + name), body, "text/plain; charset=utf-8"
            )
        return list(files)
