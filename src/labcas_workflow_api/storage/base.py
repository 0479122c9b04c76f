"""The staging-storage port: list, presign, and read and write small objects concurrently."""

from __future__ import annotations

import builtins
from typing import Protocol

from labcas_workflow_api.domain.errors import LabcasError
from labcas_workflow_api.domain.models import Fetched, Listing, ObjectInfo, Write


class StagingStore(Protocol):
    """An object store (S3 or compatible); methods raise ``NotFound`` for a missing bucket and an
    ``UpstreamError`` subclass when the store fails or cannot be reached. The ``*_many`` methods
    work on their keys concurrently, with a bound of the store's own."""

    def list(
        self, bucket: str, prefix: str, *, start_after: str | None = None, limit: int = 1000
    ) -> Listing:
        """At most ``limit`` entries of one level under ``prefix`` (delimiter ``/``) that sort
        after the key ``start_after``, in key order; "folder" placeholders (keys ending with
        ``/``) are left out. ``truncated`` when more may follow (a listing that ends exactly at
        ``limit`` may say so with nothing after it). ``BadRequest`` for a ``start_after``
        outside ``prefix``."""
        ...

    def presign_get(self, bucket: str, key: str, ttl: int) -> str:
        """A presigned GET URL valid ``ttl`` seconds."""
        ...

    def head_many(self, bucket: str, keys: builtins.list[str]) -> dict[str, ObjectInfo]:
        """The info of each object that exists; missing ones are left out."""
        ...

    def get_many(self, bucket: str, keys: builtins.list[str]) -> dict[str, Fetched]:
        """Small objects with the ETags of what was read; missing ones are left out."""
        ...

    def put_many(self, bucket: str, writes: builtins.list[Write]) -> dict[str, LabcasError | None]:
        """Write each object, sending its condition along; per key, None when it was written,
        else why not: ``PreconditionFailed`` when the store found its condition false, or the
        store's error. A store without conditional writes may ignore the condition."""
        ...

    def ping(self, bucket: str) -> None:
        """Return when the bucket is reachable."""
        ...
