"""roc-validator offline: a crate checked against the ``workflow-run-crate-0.5`` profile at the
REQUIRED level, with no network.

The validator resolves the crate's JSON-LD contexts over HTTP through a ``requests_cache``
cache; in its offline mode it reads that cache only. ``offline_cache`` pre-fills one with the
RO-Crate 1.1 context, which the package registry ships inside the ``rocrate`` 0.13.0 wheel
(later versions ship only the 1.3 context): fetched once with ``pip download`` into
``~/.cache/labcas/jsonld/``.

Offline, a context missing from the cache is only a warning to the validator, which then
skips the checks that needed it and may still say "passed". ``validate`` counts a skipped
check or a cache miss as a failure (``Verdict.ok``), so a crate naming a context the cache
does not hold fails.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RO_CRATE_11 = "https://w3id.org/ro/crate/1.1/context"
PROFILE = "workflow-run-crate-0.5"
_CONTEXT_WHEEL = ("rocrate", "0.13.0", "rocrate/data/ro-crate.jsonld")
_CACHE_ROOT = Path.home() / ".cache" / "labcas" / "jsonld"


def ro_crate_11_context() -> bytes:
    """The RO-Crate 1.1 JSON-LD context, from the ``rocrate`` 0.13.0 wheel (fetched once)."""
    name, version, member = _CONTEXT_WHEEL
    kept = _CACHE_ROOT / f"ro-crate-1.1-context-{name}-{version}.jsonld"
    if not kept.exists():
        with tempfile.TemporaryDirectory() as tmp:
            pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "download"]
            subprocess.run(
                [*pip, "--quiet", "--no-deps", "--dest", tmp, f"{name}=={version}"], check=True
            )
            (wheel,) = Path(tmp).glob("*.whl")
            body = zipfile.ZipFile(wheel).read(member)
        if json.loads(body).get("@id") != RO_CRATE_11:
            raise RuntimeError(f"{name} {version} does not ship the RO-Crate 1.1 context")
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(body)
    return kept.read_bytes()


def offline_cache(path: Path, documents: dict[str, bytes]) -> Path:
    """A ``requests_cache`` SQLite cache at ``path`` answering each URL of ``documents`` with
    its body (as ``application/ld+json``), filled without any network."""
    import requests
    import urllib3
    from requests.adapters import HTTPAdapter
    from requests_cache import CachedSession

    class Local(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
            body = documents[request.url]
            raw = urllib3.HTTPResponse(
                body=io.BytesIO(body),
                status=200,
                headers={"Content-Type": "application/ld+json"},
                preload_content=False,
                request_url=request.url,
            )
            response: requests.Response = self.build_response(request, raw)
            return response

    session = CachedSession(
        cache_name=str(path),
        backend="sqlite",
        expire_after=-1,
        allowable_methods=("GET",),
        allowable_codes=(200,),
    )
    session.mount("https://", Local())
    session.mount("http://", Local())
    try:
        for url in documents:
            session.get(url).raise_for_status()
    finally:
        session.close()
    return path


@dataclass
class Verdict:
    """What the validator said: ``passed``, its issues, the checks it skipped and the URLs it
    could not load from the cache."""

    passed: bool
    issues: list[str]
    skipped: list[str]
    cache_misses: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.passed and not self.issues and not self.skipped and not self.cache_misses

    def __str__(self) -> str:
        state = "valid" if self.ok else "NOT valid"
        return (
            f"{state} against {PROFILE} (REQUIRED), {self.seconds:.1f}s: issues {self.issues}, "
            f"skipped {self.skipped}, not in the cache {self.cache_misses}"
        )


@contextmanager
def _noting_cache_misses() -> Iterator[list[str]]:
    """The URLs the validator failed to load offline while the block runs."""
    from rocrate_validator.models import ValidationContext
    from rocrate_validator.utils.http import find_offline_cache_miss

    misses: list[str] = []
    original = ValidationContext.maybe_warn_offline_cache_miss

    def noting(self: Any, exc: BaseException) -> bool:
        miss = find_offline_cache_miss(exc)
        if miss is not None:
            misses.append(miss.url)
        return bool(original(self, exc))

    ValidationContext.maybe_warn_offline_cache_miss = noting  # type: ignore[method-assign]
    try:
        yield misses
    finally:
        ValidationContext.maybe_warn_offline_cache_miss = original  # type: ignore[method-assign]


def validate(crate: Path, cache: Path) -> Verdict:
    """Validate the crate (a folder or a zip) offline against ``PROFILE`` at the REQUIRED
    level."""
    from rocrate_validator import models, services

    settings = services.ValidationSettings(
        rocrate_uri=str(crate),
        profile_identifier=PROFILE,
        requirement_severity=models.Severity.REQUIRED,
        offline=True,
        cache_path=cache,
    )
    began = time.monotonic()
    with _noting_cache_misses() as misses:
        result = services.validate(settings)
    issues = [f"{issue.check.identifier}: {issue.message}" for issue in result.get_issues()]
    return Verdict(
        passed=bool(result.passed()),
        issues=issues,
        skipped=sorted(str(check.identifier) for check in result.skipped_checks),
        cache_misses=sorted(set(misses)),
        seconds=time.monotonic() - began,
    )


def validate_files(files: dict[str, bytes], cache: Path) -> Verdict:
    """Validate a crate made of these files (``ro-crate-metadata.json`` among them)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in files.items():
            (Path(tmp) / name).write_bytes(body)
        return validate(Path(tmp), cache)
