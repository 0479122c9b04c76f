"""A staging store whose folder listings are reused a few seconds: a browse that finds every
listing, sidecar and URL it needs held is answered on the event loop, without the store."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable

from labcas_workflow_api.cache import Recent, may_wait
from labcas_workflow_api.domain.errors import LabcasError
from labcas_workflow_api.domain.models import Fetched, Listing, ObjectInfo, Write
from labcas_workflow_api.storage.base import StagingStore

#: Keys of listings held at most (each listing weighs its keys and one): about 25 MB.
HELD_KEYS = 100_000


class ListedStore:
    """``store`` with each listing reused ``ttl`` seconds (0: never); the copy ``afresh()``
    lists again and keeps what it read. Every call that may reach the store first says so
    (``may_wait``); ``forget()`` drops the listings after a write through this process."""

    def __init__(
        self,
        store: StagingStore,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        held: Recent[tuple[str, str, str | None, int], Listing] | None = None,
        reuse: bool = True,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock
        self.held = held or Recent(HELD_KEYS, clock=clock, weight=_weight)
        self.reuse = reuse and ttl > 0

    def afresh(self) -> ListedStore:
        return ListedStore(self.store, self.ttl, clock=self.clock, held=self.held, reuse=False)

    def forget(self) -> None:
        self.held.clear()

    def list(
        self, bucket: str, prefix: str, *, start_after: str | None = None, limit: int = 1000
    ) -> Listing:
        key = (bucket, prefix, start_after, limit)
        listing = self.held.get(key) if self.reuse else None
        if listing is None:
            may_wait()
            listing = self.store.list(bucket, prefix, start_after=start_after, limit=limit)
            if self.ttl > 0:
                self.held.put(key, listing, self.clock() + self.ttl)
        return listing

    def presign_get(self, bucket: str, key: str, ttl: int) -> str:
        may_wait()  # the credentials may be fetched or refreshed first
        return self.store.presign_get(bucket, key, ttl)

    def head_many(self, bucket: str, keys: builtins.list[str]) -> dict[str, ObjectInfo]:
        may_wait()
        return self.store.head_many(bucket, keys)

    def get_many(self, bucket: str, keys: builtins.list[str]) -> dict[str, Fetched]:
        may_wait()
        return self.store.get_many(bucket, keys)

    def put_many(self, bucket: str, writes: builtins.list[Write]) -> dict[str, LabcasError | None]:
        may_wait()
        return self.store.put_many(bucket, writes)

    def ping(self, bucket: str) -> None:
        may_wait()
        self.store.ping(bucket)


def _weight(listing: Listing) -> int:
    return 1 + len(listing.prefixes) + len(listing.objects)
