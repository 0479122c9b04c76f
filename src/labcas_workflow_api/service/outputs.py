"""A caller's run outputs in the staging bucket: browse folders page by page, annotate files
with sidecars, each only for users the access config lists."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from labcas_workflow_api import cursor as codec
from labcas_workflow_api.auth import policy
from labcas_workflow_api.cache import Recent
from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.access import AccessConfig
from labcas_workflow_api.domain.errors import BadRequest, NotFound, PreconditionFailed
from labcas_workflow_api.domain.models import ObjectInfo, Run, Write
from labcas_workflow_api.service import output_root
from labcas_workflow_api.service.folder_scan import Entry, Scan, scan
from labcas_workflow_api.service.output_paths import MAX_PATH_BYTES, check_username
from labcas_workflow_api.service.output_paths import normalize_path as _normalize_path
from labcas_workflow_api.storage.base import StagingStore
from labcas_workflow_api.storage.listed import ListedStore

DEFAULT_PAGE = 500
MAX_PAGE = 1000
MAX_FILES_PER_ANNOTATION = 1000
#: Estimated JSON bytes of one page at most: AWS Lambda answers at most 6 MB.
MAX_PAGE_BYTES = 4 * 1024 * 1024
_ETAG = re.compile(r"[\x21\x23-\x7e]{1,200}")


@dataclass(frozen=True)
class FolderEntry:
    """A sub-folder: ``name`` ends with ``/``; ``path`` is relative to the caller's area;
    ``run``: the run that wrote it (in the top folder, when known)."""

    name: str
    path: str
    run: Run | None = None


@dataclass(frozen=True)
class FileEntry:
    """A file with its presigned download URL, its sidecar's properties and that sidecar's
    ETag (None when it has none)."""

    name: str
    path: str
    size: int
    last_modified: datetime
    url: str
    properties: dict[str, str]
    properties_etag: str | None = None


@dataclass(frozen=True)
class FolderView:
    """One page of a folder; ``prefix`` is the folder relative to the caller's area."""

    prefix: str
    folders: list[FolderEntry]
    files: list[FileEntry]
    next_cursor: str | None = None


@dataclass(frozen=True)
class _Properties:
    """A sidecar's properties, its ETag, and their estimated bytes in a listing."""

    values: dict[str, str]
    etag: str | None
    weight: int = 0


_NONE = _Properties({}, None)


def _encode_place(name: str) -> str:
    return codec.encode({"after": name})


def _read_place(document: Any) -> str:
    """The name a page ends with: a file, or a sub-folder (``name/``) of the folder."""
    if not isinstance(document, dict) or set(document) != {"after"}:
        raise TypeError(document)
    name = document["after"]
    if not isinstance(name, str) or not name or "/" in name[:-1]:
        raise ValueError(name)
    return name


def _text_bytes(text: str) -> int:
    return len(text) if text.isascii() else 4 * len(text)


class OutputService:
    """Browse and annotate a caller's outputs, rooted at ``<username>/`` in ``bucket``, for
    users named in the access config that ``access`` returns (``Forbidden`` for others).

    Parsed sidecars are cached by (key, ETag), presigned URLs until half their lifetime and
    listings ``listing_ttl`` s (all dropped on an annotation here), so a repeat browse within
    ``listing_ttl`` is answered from memory, and a later one costs its listing. Methods
    raise ``BadRequest``, ``Forbidden``, ``NotFound``, ``PreconditionFailed`` and the store's
    ``UpstreamError`` subclasses.
    """

    def __init__(
        self,
        store: StagingStore,
        bucket: str,
        presign_ttl: int,
        *,
        access: Callable[[], AccessConfig],
        cache_size: int = 20_000,
        listing_ttl: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = ListedStore(store, listing_ttl, clock=clock)
        self.bucket = bucket
        self.presign_ttl = presign_ttl
        self.access = access
        self.clock = clock
        self.sidecars: Recent[tuple[str, str], _Properties] = Recent(cache_size, clock=clock)
        self.urls: Recent[str, str] = Recent(cache_size, clock=clock)

    normalize_path = staticmethod(_normalize_path)

    def _area(self, username: str, path: str) -> tuple[str, str]:
        """``(folder relative to the area, its key prefix)`` for a listed user."""
        check_username(username)
        policy.require_listed(self.access(), username)
        rel = path.strip("/")
        rel = f"{rel}/" if rel else ""
        return rel, f"{username}/{rel}"

    # -- browse ----------------------------------------------------------------------------

    def browse(
        self,
        username: str,
        path: str,
        *,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
        fresh: bool = False,
    ) -> FolderView:
        """A page of a folder: at most ``limit`` entries (1 to 1,000) after ``cursor``, and
        fewer when their listing would be over ``MAX_PAGE_BYTES``; ``fresh``: listed again,
        not from the listings held. ``NotFound`` when nothing is under the folder."""
        rel, prefix = self._area(username, path)
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be from 1 to {MAX_PAGE}")
        after = codec.decode(cursor, _read_place) if cursor else None
        store = self.store.afresh() if fresh else self.store
        found = scan(store, self.bucket, prefix, prefix + after if after else None, limit + 1)
        empty = not found.entries and after is None and rel
        if empty and not store.head_many(self.bucket, [prefix]):
            raise NotFound(f"no such folder: {rel}")
        return self._page(rel, found, limit)

    def browse_root(
        self,
        username: str,
        runs: Mapping[str, Run],
        *,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
        fresh: bool = False,
    ) -> FolderView:
        """A page of the top folder, as ``browse``, arranged by ``output_root``: the folders of
        ``runs`` (by folder path) newest first, each with its run, then the rest (in name
        order throughout when the level is too large, and after a cursor of such a page)."""
        _, prefix = self._area(username, "")
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be from 1 to {MAX_PAGE}")
        top = None
        if output_root.arranged(cursor):
            store = self.store.afresh() if fresh else self.store
            top = output_root.arrange(store, self.bucket, prefix, runs)
        if top is None:
            view = self.browse(username, "", limit=limit, cursor=cursor, fresh=fresh)
        else:
            view = self._page("", top.after(cursor), limit, mark=top.mark)
        return replace(view, folders=[replace(f, run=runs.get(f.path)) for f in view.folders])

    def _page(
        self, rel: str, found: Scan, limit: int, mark: Callable[[str], str] | None = None
    ) -> FolderView:
        """The view of the first ``limit`` entries of a scan, cut to ``MAX_PAGE_BYTES``;
        ``mark`` makes the cursor after a name (``_encode_place``, a place in name order)."""
        shown = found.entries[:limit]
        properties = self._properties([e for e in shown if e.info is not None], found)
        cut = len(found.entries) > limit
        folders: list[FolderEntry] = []
        files: list[FileEntry] = []
        budget = MAX_PAGE_BYTES
        last = ""
        for entry in shown:
            name = entry.key[len(found.prefix) :]
            if entry.info is None:
                folders.append(FolderEntry(name, rel + name))
                budget -= 200 + 4 * _text_bytes(name)
            else:
                props = properties.get(entry.key, _NONE)
                url = self._url(entry.key)
                budget -= 200 + 2 * _text_bytes(name) + len(url) + props.weight  # generous
                if budget < 0 and (folders or files):
                    cut = True
                    break
                files.append(
                    FileEntry(
                        name=name,
                        path=rel + name,
                        size=entry.info.size,
                        last_modified=entry.info.last_modified,
                        url=url,
                        properties=dict(props.values),
                        properties_etag=props.etag,
                    )
                )
            last = name
        return FolderView(rel, folders, files, (mark or _encode_place)(last) if cut else None)

    def _properties(self, data: list[Entry], found: Scan) -> dict[str, _Properties]:
        """Each data file's sidecar properties and ETag: cached by ETag, else read
        concurrently (with the sidecars the scan did not reach)."""
        result: dict[str, _Properties] = {}
        to_read: dict[str, str] = {}  # sidecar key -> data key
        for entry in data:
            key = sidecar.sidecar_key(entry.key)
            listed = found.sidecars.get(key)
            cached = self.sidecars.get((key, listed.etag)) if listed and listed.etag else None
            if cached is not None:
                result[entry.key] = cached
            elif listed is not None or found.may_have(key):
                to_read[key] = entry.key
        if to_read:
            for key, read in self.store.get_many(self.bucket, list(to_read)).items():
                data_key = to_read[key]
                values = sidecar.parse(read.body, data_key.rpartition("/")[2], where=key)
                weight = sum(_text_bytes(k) + _text_bytes(v) + 8 for k, v in values.items())
                props = _Properties(values, read.etag or None, weight)
                if read.etag:
                    # under the ETag of what was read: a writer may have replaced the sidecar
                    # since the listing, and its old ETag must not name the new content
                    self.sidecars.put((key, read.etag), props)
                result[data_key] = props
        return result

    def _url(self, key: str) -> str:
        url = self.urls.get(key)
        if url is None:
            url = self.store.presign_get(self.bucket, key, self.presign_ttl)
            self.urls.put(key, url, self.clock() + self.presign_ttl / 2)
        return url

    # -- annotate --------------------------------------------------------------------------

    def annotate(
        self,
        username: str,
        path: str,
        files: dict[str, Any],
        *,
        expected: dict[str, str | None] | None = None,
    ) -> list[str]:
        """Replace the properties of each named file (``{name: {key: value}}``); a file named
        in ``expected`` only if its sidecar still has that ETag (None: it has no sidecar).

        Everything is checked before anything is written: ``BadRequest`` for a bad name, key,
        value or ETag, ``NotFound`` naming the first data file that does not exist,
        ``PreconditionFailed`` naming the files whose sidecar is not the expected one. The
        sidecars are then written concurrently, each whole in one conditional PUT (where the
        store honours conditions, a writer coming in between loses with
        ``PreconditionFailed``, which names what was written nonetheless).
        """
        rel, prefix = self._area(username, path)
        expected = expected or {}
        bodies = _rendered(files, expected)
        longest = max((len(name.encode()) for name in files), default=0)
        if len((prefix + sidecar.SUFFIX).encode()) + longest > MAX_PATH_BYTES:
            raise BadRequest("file path too long for a sidecar")
        keys = {name: prefix + name for name in files}
        sidecars = {name: sidecar.sidecar_key(keys[name]) for name in files}
        found = self.store.head_many(
            self.bucket, [*keys.values(), *(sidecars[name] for name in expected)]
        )
        for name, key in keys.items():
            if key not in found:
                raise NotFound(f"no such file: {rel}{name}")
        stale = [name for name, etag in expected.items() if _etag(found, sidecars[name]) != etag]
        if stale:
            raise PreconditionFailed(_changed(stale))
        writes = [
            Write(
                sidecars[name],
                body,
                "text/plain; charset=utf-8",
                if_match=expected.get(name),
                if_none_match=name in expected and expected[name] is None,
            )
            for name, body in bodies.items()
        ]
        try:
            outcomes = self.store.put_many(self.bucket, writes)
        finally:
            self.store.forget()  # the folder's listings now miss the new sidecars
        failed = {name: outcomes[sidecars[name]] for name in files if outcomes[sidecars[name]]}
        if not failed:
            return list(files)
        written = [name for name in files if name not in failed]
        suffix = f" (written: {', '.join(written)})" if written else ""
        other = next((e for e in failed.values() if not isinstance(e, PreconditionFailed)), None)
        if other is not None:
            raise type(other)(f"{other.detail}{suffix}", **other.extra)
        raise PreconditionFailed(_changed(list(failed)) + suffix)


def _rendered(files: Any, expected: dict[str, str | None]) -> dict[str, bytes]:
    """Each file's new sidecar; BadRequest for anything wrong."""
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
    for name, etag in expected.items():
        if name not in files:
            raise BadRequest(f"an ETag is given for {name!r}, which the request does not name")
        if etag is not None and not (isinstance(etag, str) and _ETAG.fullmatch(etag)):
            raise BadRequest(f"files.{name}.etag: not an ETag of this service's listings")
    return bodies


def _etag(found: dict[str, ObjectInfo], key: str) -> str | None:
    info = found.get(key)
    return info.etag if info is not None else None


def _changed(names: list[str]) -> str:
    return (
        f"the properties of {', '.join(names)} changed since they were read: "
        "list the folder again for their current values and properties_etag"
    )
