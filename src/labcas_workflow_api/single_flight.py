"""Single flight: one renewal at a time of what many need, one answer for all who waited
(``cache.Cached`` is built on it).

Without it, requests queued behind a renewal to a silent upstream would each retry it for a full
timeout (the sixtieth would wait minutes for its 504); a waiter on a failed renewal gets its error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from labcas_workflow_api.domain.errors import LabcasError

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts = 0
        self._failure: LabcasError | None = None

    def get(
        self, fresh: Callable[[], T | None], renew: Callable[[], T], stale: T | None = None
    ) -> T:
        """``fresh()`` when it has a value; else ``stale`` when given and another thread is
        renewing; else ``renew()``, one thread at a time."""
        value = fresh()
        if value is not None:
            return value
        seen = self._attempts
        if stale is None:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            return stale
        try:
            value = fresh()
            if value is not None:
                return value
            failure = self._failure
            if failure is not None and self._attempts != seen:
                raise failure.again()
            try:
                value = renew()
                self._failure = None
            except LabcasError as exc:
                self._failure = exc
                raise
            finally:
                self._attempts += 1  # after: whoever arrived meanwhile waited on this one
            return value
        finally:
            self._lock.release()
