"""The caller's staging area: browse folders (JSON or HTML) and annotate files."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from labcas_workflow_api.audit import audited
from labcas_workflow_api.auth.jwt import Principal
from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.domain.errors import BadRequest
from labcas_workflow_api.http.deps import container, link, output_link, principal, request_id
from labcas_workflow_api.http.html import render_listing
from labcas_workflow_api.http.routes.workflows import read_body

router = APIRouter(tags=["outputs"])


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


@router.get("/output-data")
@router.get("/output-data/{path:path}")
def browse(
    request: Request,
    path: str = "",
    limit: int | None = Query(None, ge=1, le=10000),
    cursor: str | None = Query(None, max_length=2048),
    c: Container = Depends(container),
    who: Principal = Depends(principal),
) -> Response:
    clean = c.outputs.normalize_path(path)
    view = c.outputs.browse(who.username, clean, limit=limit, cursor=cursor)
    answer: dict[str, Any] = {
        "prefix": view.prefix,
        "folders": {f.name: {"href": output_link(request, f.path)} for f in view.folders},
        "files": {
            f.name: {
                "href": f.url,
                "size": f.size,
                "last_modified": f.last_modified.isoformat(),
                "properties": f.properties,
            }
            for f in view.files
        },
    }
    if view.next_cursor:
        answer["next"] = link(
            request, "/output-data/" + quote(view.prefix), limit=limit, cursor=view.next_cursor
        )
    if _wants_html(request):
        parent = None
        if view.prefix:
            up = view.prefix.rstrip("/").rpartition("/")[0]
            parent = output_link(request, up + "/" if up else "")
        return HTMLResponse(render_listing(answer, parent))
    return JSONResponse(answer)


@router.put("/output-data")
@router.put("/output-data/{path:path}")
async def annotate(
    request: Request,
    path: str = "",
    c: Container = Depends(container),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    body = await read_body(request)
    with audited("metadata.update", who.username, request_id(request), path=path) as audit:
        clean = c.outputs.normalize_path(path)
        files = parse_annotation(body)
        audit["files"] = sorted(files)
        updated = await run_in_threadpool(c.outputs.annotate, who.username, clean, files)
    return {"updated": updated}


def parse_annotation(body: bytes) -> dict[str, dict[str, Any]]:
    """``{"files": {name: {"properties": {key: value}}}}`` -> ``{name: {key: value}}``."""
    try:
        document = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
        raise BadRequest('body must be {"files": {"<name>": {"properties": {...}}}}')
    unknown = set(document) - {"files"}
    if unknown:
        raise BadRequest(f"unknown field: {sorted(unknown)[0]}")
    if not document["files"]:
        raise BadRequest("files must name at least one file")
    files: dict[str, dict[str, Any]] = {}
    for name, entry in document["files"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("properties"), dict):
            raise BadRequest(f"files.{name}: expected {{'properties': {{...}}}}")
        if set(entry) - {"properties"}:
            raise BadRequest(
                f"files.{name}: unknown field {sorted(set(entry) - {'properties'})[0]}"
            )
        files[name] = entry["properties"]
    return files
