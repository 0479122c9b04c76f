"""The caller's staging area: browse folders (JSON or HTML) page by page, and annotate files."""

from __future__ import annotations

import functools
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, Response

from labcas_workflow_api import wire
from labcas_workflow_api.audit import audited
from labcas_workflow_api.cursor import MAX_LENGTH as MAX_CURSOR
from labcas_workflow_api.domain.errors import BadRequest
from labcas_workflow_api.http.deps import (
    ENGINE,
    STORAGE,
    CallerDep,
    ContainerDep,
    LinksDep,
    RequestIdDep,
    held_or_off_loop,
    off_loop,
    parse_body,
    read_body,
    request_body,
)
from labcas_workflow_api.http.html import render_listing
from labcas_workflow_api.service.outputs import DEFAULT_PAGE, MAX_PAGE
from labcas_workflow_api.wire.outputs import web_folder

router = APIRouter(tags=["outputs"])
_OR_HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}}
}


def _no_cache(request: Request) -> bool:
    """Whether the client asks for an answer afresh (``Cache-Control: no-cache`` or
    ``max-age=0``, ``Pragma: no-cache``): then the folder is listed again."""
    asked = request.headers.get("cache-control", "").lower().replace(" ", "").split(",")
    pragma = request.headers.get("pragma", "").lower()
    return "no-cache" in asked or "max-age=0" in asked or "no-cache" in pragma


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


@router.get("/output-data", response_model=wire.Folder, responses=_OR_HTML)
@router.get("/output-data/{path:path}", response_model=wire.Folder, responses=_OR_HTML)
async def browse(
    request: Request,
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    rid: RequestIdDep,
    path: str = "",
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR)] = None,
) -> wire.Folder | Response:
    with audited("output.browse", who.username, rid, path=path) as audit:
        clean = c.outputs.normalize_path(path)
        if clean:
            read = functools.partial(c.outputs.browse, who.username, clean)
        else:  # the top folder: each folder with its run, newest first
            runs = await held_or_off_loop(ENGINE, c.runs.by_folder, who.username)
            read = functools.partial(c.outputs.browse_root, who.username, runs)
        page = {"limit": limit or DEFAULT_PAGE, "cursor": cursor, "fresh": _no_cache(request)}
        view = await held_or_off_loop(STORAGE, read, **page)
        audit.update(links=[f.path for f in view.files], link_ttl=c.settings.presign_ttl)
    here = "/output-data/" + quote(view.prefix)
    following = links.to(here, limit=limit, cursor=view.next_cursor) if view.next_cursor else None
    folder = wire.Folder(
        prefix=view.prefix,
        folders={f.name: wire.FolderLink.of(f, links) for f in view.folders},
        files={f.name: wire.FileEntry.of(f) for f in view.files},
        next=following,
        web_url=web_folder(links, view.prefix),
    )
    if _wants_html(request):
        parent = None
        if view.prefix:
            up = view.prefix.rstrip("/").rpartition("/")[0]
            parent = links.output(up + "/" if up else "")
        return HTMLResponse(render_listing(folder, parent))
    return folder


@router.put("/output-data", openapi_extra=request_body(wire.Annotation))
@router.put("/output-data/{path:path}", openapi_extra=request_body(wire.Annotation))
async def annotate(
    request: Request,
    c: ContainerDep,
    who: CallerDep,
    rid: RequestIdDep,
    path: str = "",
    if_match: Annotated[str | None, Header(max_length=256)] = None,
) -> wire.Updated:
    with audited("metadata.update", who.username, rid, path=path) as audit:
        body = await read_body(request)
        clean = c.outputs.normalize_path(path)
        annotation = parse_body(wire.Annotation, body)
        files = {name: entry.properties for name, entry in annotation.files.items()}
        expected = {
            name: entry.etag for name, entry in annotation.files.items() if entry.conditional
        }
        if if_match is not None:
            expected = _with_if_match(if_match, annotation, expected)
        audit.update(files=sorted(files), values=files)
        updated = await off_loop(
            STORAGE, c.outputs.annotate, who.username, clean, files, expected=expected
        )
    return wire.Updated(updated=updated)


def _with_if_match(
    header: str, annotation: wire.Annotation, expected: dict[str, str | None]
) -> dict[str, str | None]:
    """The one file's expected ETag from an ``If-Match`` header (quoted or not)."""
    if len(annotation.files) != 1:
        raise BadRequest(
            "If-Match applies to a PUT naming one file: give each file's etag in the body"
        )
    (name,) = annotation.files
    etag = header.strip()
    if etag.startswith('"') and etag.endswith('"') and len(etag) >= 2:
        etag = etag[1:-1]
    if not etag or etag == "*" or "," in etag:
        raise BadRequest("If-Match must be one ETag from a listing's properties_etag")
    if name in expected and expected[name] != etag:
        raise BadRequest(f"If-Match and files.{name}.etag differ")
    return {name: etag}
