"""Output downloads: skipped when complete, resumed (HTTP Range) when partial, size checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

import httpx

from labcas_workflow_api.client.errors import ClientError, raise_for_error
from labcas_workflow_api.client.models import DownloadResult

USER_AGENT = "labcas-workflows/0.1"


def safe_relative(rel: str) -> PurePosixPath:
    """``rel`` as a path that stays inside the destination folder, or ClientError."""
    parts = PurePosixPath(rel).parts
    if not parts or any(p in ("", ".", "..") or "\\" in p for p in parts) or rel.startswith("/"):
        raise ClientError(f"refusing to write unsafe path {rel!r}")
    return PurePosixPath(*parts)


def fetch_file(
    http: httpx.Client,
    url: str,
    size: int,
    dest: Path,
    label: str,
    on_progress: Callable[[int], None] | None = None,
) -> DownloadResult:
    """Fetch ``url`` (a presigned link: it carries its own authorization) to ``dest``, a file of
    ``size`` bytes (``label`` in messages); ``on_progress`` gets counts adding up to ``size``."""
    have = dest.stat().st_size if dest.is_file() else 0
    if have == size:
        if on_progress:
            on_progress(size)
        return DownloadResult(label, str(dest), "skipped", 0, size)
    if have > size:
        have = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    written = 0
    try:
        with http.stream("GET", url, headers=headers) as response:
            if response.status_code == 416 and have:
                response.read()
                dest.unlink()
                return fetch_file(http, url, size, dest, label, on_progress)
            raise_for_error(response)
            resumed = response.status_code == 206 and response.headers.get(
                "content-range", ""
            ).startswith(f"bytes {have}-")
            if have and not resumed:
                have = 0
            if have and on_progress:
                on_progress(have)
            with dest.open("ab" if resumed else "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    written += len(chunk)
                    if on_progress:
                        on_progress(len(chunk))
    except httpx.HTTPError as exc:
        raise ClientError(f"download of {label} failed: {exc}") from None
    final = dest.stat().st_size
    if final != size:
        raise ClientError(f"{label}: got {final} bytes, expected {size}")
    outcome = "resumed" if have else "downloaded"
    return DownloadResult(label, str(dest), outcome, written, final)
