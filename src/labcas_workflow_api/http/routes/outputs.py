"""The caller's staging area: browse folders (JSON or HTML) and annotate files."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from labcas_workflow_api import wire
from labcas_workflow_api.audit import audited
from labcas_workflow_api.http.deps import (
    STORAGE,
    CallerDep,
    ContainerDep,
    LinksDep,
    RequestIdDep,
    off_loop,
    parse_body,
    read_body,
    request_body,
)
from labcas_workflow_api.http.html import render_listing

router = APIRouter(tags=["outputs"])


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


@router.get(
    "/output-data",
    response_model=wire.Folder,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
@router.get(
    "/output-data/{path:path}",
    response_model=wire.Folder,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
async def browse(
    request: Request,
    c: ContainerDep,
    who: CallerDep,
    links: LinksDep,
    rid: RequestIdDep,
    path: str = "",
    limit: Annotated[int | None, Query(ge=1, le=10000)] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> wire.Folder | Response:
    with audited("output.browse", who.username, rid, path=path) as audit:
        clean = c.outputs.normalize_path(path)
        view = await off_loop(
            STORAGE, c.outputs.browse, who.username, clean, limit=limit, cursor=cursor
        )
        audit.update(links=[f.path for f in view.files], link_ttl=c.settings.presign_ttl)
    following = None
    if view.next_cursor:
        following = links.to(
            "/output-data/" + quote(view.prefix), limit=limit, cursor=view.next_cursor
        )
    folder = wire.Folder(
        prefix=view.prefix,
        folders={f.name: wire.FolderLink(href=links.output(f.path)) for f in view.folders},
        files={f.name: wire.FileEntry.of(f) for f in view.files},
        next=following,
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
) -> wire.Updated:
    with audited("metadata.update", who.username, rid, path=path) as audit:
        body = await read_body(request)
        clean = c.outputs.normalize_path(path)
        annotation = parse_body(wire.Annotation, body)
        files = {name: entry.properties for name, entry in annotation.files.items()}
        audit.update(files=sorted(files), values=files)
        updated = await off_loop(STORAGE, c.outputs.annotate, who.username, clean, files)
    return wire.Updated(updated=updated)
