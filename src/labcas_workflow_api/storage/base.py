"""The staging-storage port: list, presign, read and write small objects."""

from __future__ import annotations

import builtins
from typing import Protocol

from labcas_workflow_api.domain.models import Fetched, Listing, ObjectInfo


class StagingStore(Protocol):
    """An object store (S3 or compatible).

    Methods raise ``NotFound`` for a missing bucket or object (where stated) and an
    ``UpstreamError`` subclass when the store fails or cannot be reached.
    """

    def list(
        self,
        bucket: str,
        prefix: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Listing:
        """One level under ``prefix`` (delimiter ``/``), across every page.

        With ``limit``, stop after that many entries and return ``next_cursor``.
        """
        ...

    def presign_get(self, bucket: str, key: str, ttl: int) -> str:
        """A presigned GET URL valid ``ttl`` seconds."""
        ...

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's info, or None when it does not exist."""
        ...

    def get(self, bucket: str, key: str) -> bytes:
        """A small object's body; ``NotFound`` when missing."""
        ...

    def get_many(self, bucket: str, keys: builtins.list[str]) -> dict[str, Fetched]:
        """Several small objects with their ETags, fetched concurrently; missing ones are
        left out."""
        ...

    def put(self, bucket: str, key: str, body: bytes, content_type: str = "text/plain") -> None:
        """Write a small object."""
        ...

    def ping(self, bucket: str) -> None:
        """Return when the bucket is reachable."""
        ...
