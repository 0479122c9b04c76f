"""The caches: ``Cached`` for every fetched value, ``Recent`` for small values computed here."""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, ParamSpec, TypeVar

from labcas_workflow_api.domain.errors import LabcasError
from labcas_workflow_api.single_flight import SingleFlight

T = TypeVar("T")
P = ParamSpec("P")
K = TypeVar("K", bound=Hashable)
log = logging.getLogger(__name__)

FOREVER = float("inf")
#: Threads renewing values behind (``Cached.get(stale_for=...)``): a bound on upstream calls
#: no request waits for.
RENEWERS = 4


class _Renewers:
    """Daemon threads, started on first use: the interpreter joins a ``ThreadPoolExecutor``'s
    at exit after every queued renewal, so a stopped ``serve`` would wait on each one a stalled
    upstream holds."""

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
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)


_BEHIND = _Renewers(RENEWERS)
_WAITING = contextvars.ContextVar("labcas_may_wait", default=True)


class WouldWait(Exception):
    """Raised in place of waiting on an upstream, inside ``without_waiting``."""


def without_waiting(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``call(...)``, where whatever would wait on an upstream (a cache to renew first, an
    uncached read) raises ``WouldWait`` instead: the event loop answers from what is held."""
    token = _WAITING.set(False)
    try:
        return call(*args, **kwargs)
    finally:
        _WAITING.reset(token)


def may_wait() -> None:
    """Say that the caller is about to wait on an upstream: ``WouldWait`` inside
    ``without_waiting``."""
    if not _WAITING.get():
        raise WouldWait


class Cached(Generic[T]):
    """``fetch()``'s value, kept ``ttl`` seconds (or a function of the value), renewed by one
    caller at a time (``SingleFlight``) while, with ``serve_stale``, the others get the previous
    one (never an invalidated one). A failed renewal raises its ``LabcasError`` to all who waited,
    unless ``keep_last_good``: then the previous value is served, the failure logged and kept in
    ``last_error``, and retried after ``ttl``. ``invalidate()`` during a renewal also keeps that
    renewal's value out: it was read before whatever made the caller invalidate."""

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
        self._behind: Future[None] | None = None
        self.last_error: str | None = None

    @property
    def value(self) -> T | None:
        """The value held now, fresh or not, without fetching."""
        return self._value

    def get(self, *, max_age: float | None = None, stale_for: float = 0.0) -> T:
        """The value, renewed first when older than ``ttl`` (or ``max_age``). With ``stale_for``,
        a value expired less than that long ago is answered at once and renewed behind (a failure
        there is logged; the next caller past ``stale_for`` meets it)."""
        if stale_for > 0 and max_age is None:
            value, now = self._value, self._clock()
            if value is not None and now < self._expires_at + stale_for:
                if now >= self._expires_at:
                    self._renew_behind()
                return value

        def fresh() -> T | None:
            value = self.peek()
            if value is None or max_age is None or self._clock() - self._fetched_at < max_age:
                return value
            return None

        value = fresh()
        if value is not None:
            return value
        may_wait()
        stale = self._value if self._serve_stale else None
        return self._flight.get(fresh, self._renew, stale=stale)

    def peek(self) -> T | None:
        """The value when it is fresh (within its ``ttl``), else None; never fetches."""
        value = self._value
        if value is None or self._clock() >= self._expires_at:
            return None
        return value

    def invalidate(self, value: T | None = None) -> None:
        """Forget the value (only if it is still ``value``, when given: another caller may have
        replaced a refused token)."""
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
    """At most ``size`` values by key (or values of that total ``weight``), each until its own
    ``expires_at`` (a ``clock`` time), the least recently used dropped first; thread-safe."""

    def __init__(
        self,
        size: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        weight: Callable[[T], int] = lambda _: 1,
    ) -> None:
        self._size = size
        self._clock = clock
        self._weight = weight
        self._held = 0
        self._entries: OrderedDict[K, tuple[T, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> T | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() >= entry[1]:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: T, expires_at: float = FOREVER) -> None:
        weight = self._weight(value)
        with self._lock:
            self._drop(key)
            if weight > self._size:
                return  # not kept: it would push out everything else
            self._entries[key] = (value, expires_at)
            self._held += weight
            while self._held > self._size:
                self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._held = 0

    def _drop(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._held -= self._weight(entry[0])

    def __len__(self) -> int:
        return len(self._entries)
