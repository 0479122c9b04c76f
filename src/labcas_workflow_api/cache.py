"""The caches of the service.

``Cached``: one value kept for a time to live and renewed by one caller at a time
(``single_flight``), optionally keeping the last good value when a renewal fails. Every fetched
thing uses it: the access config, the JWT secret, the deployed workflows and their details, a
user's run lists, the engine's login token and session, and the MWAA environment's
description. ``peek`` gives the value without ever fetching, for code on the event loop.

``Recent``: many small values by key, each computed elsewhere and kept until its own expiry
time, at most ``size`` of them (the least recently used dropped first): verified tokens and
each user's view of the access config. Nothing is fetched or shared while computed, so
``Cached``'s machinery (single flight, stale serving, last good) has no part in it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

from labcas_workflow_api.domain.errors import LabcasError
from labcas_workflow_api.single_flight import SingleFlight

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
log = logging.getLogger(__name__)

FOREVER = float("inf")
#: Threads renewing values behind (``Cached.get(stale_for=...)``): a bound on the upstream
#: calls no request waits for, as the engine and storage pools bound those requests wait for.
RENEWERS = 4


class _Renewers:
    """``size`` daemon threads running the renewals behind, started on first use (none at
    import, none on a cold start that renews nothing behind). Daemon, unlike a
    ``ThreadPoolExecutor``'s threads, which the interpreter joins at exit after running
    every queued renewal: a stopped ``serve`` would wait on each one a stalled upstream holds
    (``engine_timeout`` or more apiece, four at a time)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._threads = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Future[None], Callable[[], None]]]
        self._queue = queue.SimpleQueue()

    def submit(self, renew: Callable[[], None]) -> Future[None]:
        future: Future[None] = Future()
        self._queue.put((future, renew))
        with self._lock:
            if self._threads < self._size:
                self._threads += 1
                name = f"renew-behind-{self._threads}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            future, renew = self._queue.get()
            try:
                renew()
            except BaseException as exc:  # renew logs its failures; this only ends the future
                future.set_exception(exc)
            else:
                future.set_result(None)


_BEHIND = _Renewers(RENEWERS)


class Cached(Generic[T]):
    """``fetch()``'s value, kept ``ttl`` seconds.

    ``ttl`` is a number, or a function of the fetched value (a token that says when it
    expires). While one caller renews the value, the others get the previous one instead of
    waiting when ``serve_stale`` (a value that was ``invalidate``\\ d is never served).
    A renewal that fails raises its ``LabcasError`` to everyone who waited on it, unless
    ``keep_last_good``: then the previous value keeps being served, the failure is logged
    and kept in ``last_error``, and the next renewal is tried after ``ttl`` again.
    ``invalidate()`` during a renewal also keeps that renewal's value out of the cache: it was
    read before whatever made the caller invalidate.
    """

    def __init__(
        self,
        fetch: Callable[[], T],
        ttl: float | Callable[[T], float],
        *,
        keep_last_good: bool = False,
        serve_stale: bool = True,
        name: str = "value",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._keep_last_good = keep_last_good
        self._serve_stale = serve_stale
        self._name = name
        self._clock = clock
        self._value: T | None = None
        self._fetched_at = -FOREVER
        self._expires_at = -FOREVER
        self._generation = 0
        self._lock = threading.Lock()
        self._flight: SingleFlight[T] = SingleFlight()
        self._behind: Future[None] | None = None  # the renewal behind, queued or running
        self.last_error: str | None = None

    @property
    def value(self) -> T | None:
        """The value held now, fresh or not, without fetching."""
        return self._value

    def get(self, *, max_age: float | None = None, stale_for: float = 0.0) -> T:
        """The value, renewed first when older than ``ttl`` (or than ``max_age`` when given).

        With ``stale_for``, a value expired less than ``stale_for`` seconds ago is answered
        at once and renewed behind, in one of ``RENEWERS`` threads shared by every cache (one
        renewal per value at a time; a failure there is logged and the next caller past
        ``stale_for`` meets it): for what may lag one renewal behind, never for a value that
        was invalidated."""
        if stale_for > 0 and max_age is None:
            value, now = self._value, self._clock()
            if value is not None and now < self._expires_at + stale_for:
                if now >= self._expires_at:
                    self._renew_behind()
                return value

        def fresh() -> T | None:
            value, now = self._value, self._clock()
            if value is None or now >= self._expires_at:
                return None
            if max_age is not None and now - self._fetched_at >= max_age:
                return None
            return value

        stale = self._value if self._serve_stale else None
        return self._flight.get(fresh, self._renew, stale=stale)

    def peek(self) -> T | None:
        """The value when it is fresh (within its ``ttl``), else None; never fetches."""
        value = self._value
        if value is None or self._clock() >= self._expires_at:
            return None
        return value

    def invalidate(self, value: T | None = None) -> None:
        """Forget the value (only if it is still ``value``, when given: a token that was just
        refused, which another caller may already have replaced)."""
        with self._lock:
            if value is not None and self._value is not value:
                return
            self._value = None
            self._expires_at = -FOREVER
            self._generation += 1

    def _renew_behind(self) -> None:
        with self._lock:
            if self._behind is not None:
                return
            self._behind = _BEHIND.submit(self._renewed_behind)

    def _renewed_behind(self) -> None:
        try:
            self.get()
        except LabcasError as exc:
            log.warning("%s: renewal behind failed: %s", self._name, exc.detail)
        except Exception:  # a bug, which no caller sees: its traceback goes to the log
            log.exception("%s: renewal behind failed", self._name)
        finally:
            with self._lock:
                self._behind = None

    def _renew(self) -> T:
        with self._lock:
            generation = self._generation
        try:
            value = self._fetch()
        except LabcasError as exc:
            previous = self._value
            if not self._keep_last_good or previous is None:
                raise
            log.error("%s: renewal failed, keeping the last good one: %s", self._name, exc.detail)
            with self._lock:
                self.last_error = exc.detail
                self._expires_at = self._clock() + self._seconds(previous)
            return previous
        with self._lock:
            if generation == self._generation:
                now = self._clock()
                self._value = value
                self._fetched_at = now
                self._expires_at = now + self._seconds(value)
                self.last_error = None
        return value

    def _seconds(self, value: T) -> float:
        return self._ttl(value) if callable(self._ttl) else self._ttl


class Recent(Generic[K, T]):
    """At most ``size`` values by key, each until its own ``expires_at`` (a ``clock`` time),
    the least recently used dropped first; safe to use from several threads."""

    def __init__(self, size: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[K, tuple[T, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> T | None:
        """The value kept for ``key`` if it has not expired, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() >= entry[1]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: T, expires_at: float = FOREVER) -> None:
        with self._lock:
            self._entries[key] = (value, expires_at)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
