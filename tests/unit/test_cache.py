"""The caches: time to live, keep-last-good, max_age, invalidation during a renewal, peek; and
the bounded, expiring `Recent`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable

import pytest

from labcas_workflow_api.cache import RENEWERS, Cached, Recent, WouldWait, without_waiting
from labcas_workflow_api.domain.errors import UpstreamUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Answers ``value-N`` on the Nth fetch, or fails while ``down``."""

    def __init__(self) -> None:
        self.calls = 0
        self.down = False

    def __call__(self) -> str:
        self.calls += 1
        if self.down:
            raise UpstreamUnavailable("the source is down")
        return f"value-{self.calls}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_value_is_reused_until_its_time_to_live_ends(clock: Clock) -> None:
    source = Source()
    cached = Cached(source, 10, clock=clock)
    assert cached.get() == "value-1"
    clock.now += 9.9
    assert cached.get() == "value-1"
    clock.now += 0.1
    assert cached.get() == "value-2"


def test_the_time_to_live_may_come_from_the_value(clock: Clock) -> None:
    source = Source()
    cached = Cached(source, lambda value: 5 if value == "value-1" else 50, clock=clock)
    cached.get()
    clock.now += 5
    assert cached.get() == "value-2"
    clock.now += 49
    assert cached.get() == "value-2"


def test_max_age_asks_for_a_younger_value(clock: Clock) -> None:
    source = Source()
    cached = Cached(source, 300, clock=clock)
    cached.get()
    clock.now += 4
    assert cached.get(max_age=5) == "value-1"
    clock.now += 1
    assert cached.get(max_age=5) == "value-2"


def test_a_failed_renewal_raises_without_keep_last_good(clock: Clock) -> None:
    source = Source()
    cached = Cached(source, 10, clock=clock)
    cached.get()
    source.down = True
    clock.now += 10
    with pytest.raises(UpstreamUnavailable):
        cached.get()


def test_keep_last_good_serves_the_previous_value_and_says_why(clock: Clock) -> None:
    source = Source()
    cached = Cached(source, 10, keep_last_good=True, clock=clock)
    cached.get()
    source.down = True
    clock.now += 10
    assert cached.get() == "value-1"
    assert cached.last_error == "the source is down"
    calls = source.calls
    clock.now += 5
    assert cached.get() == "value-1"
    assert source.calls == calls  # tried again only after the time to live
    source.down = False
    clock.now += 5
    assert cached.get() == "value-3"
    assert cached.last_error is None


def test_keep_last_good_still_raises_when_nothing_was_ever_read(clock: Clock) -> None:
    source = Source()
    source.down = True
    cached = Cached(source, 10, keep_last_good=True, clock=clock)
    with pytest.raises(UpstreamUnavailable):
        cached.get()


def test_invalidate_forgets_the_value(clock: Clock) -> None:
    source = Source()
    cached = Cached(source, 100, clock=clock)
    cached.get()
    cached.invalidate()
    assert cached.value is None
    assert cached.get() == "value-2"


def test_invalidate_of_a_value_already_replaced_keeps_the_new_one(clock: Clock) -> None:
    source = Source()
    cached = Cached(source, 100, clock=clock)
    refused = cached.get()
    cached.invalidate(refused)
    fresh = cached.get()
    cached.invalidate(refused)  # a second caller saw the same refused token
    assert cached.get() is fresh
    assert source.calls == 2


def test_a_value_read_before_an_invalidation_is_not_kept() -> None:
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow_fetch() -> str:
        calls.append(1)
        if len(calls) == 1:
            started.set()
            release.wait(5)
        return f"list-{len(calls)}"

    cached = Cached(slow_fetch, 100, serve_stale=False)
    answers: list[str] = []
    reader = threading.Thread(target=lambda: answers.append(cached.get()))
    reader.start()
    started.wait(5)
    cached.invalidate()  # e.g. the user started a run while their list was being read
    release.set()
    reader.join(5)
    assert answers == ["list-1"]
    assert cached.get() == "list-2"


def test_peek_gives_a_fresh_value_and_never_fetches(clock: Clock) -> None:
    source = Source()
    cached = Cached(source, 10, clock=clock)
    assert cached.peek() is None
    assert source.calls == 0
    cached.get()
    assert cached.peek() == "value-1"
    clock.now += 10
    assert cached.peek() is None
    assert source.calls == 1


class TestWithoutWaiting:
    """``without_waiting``: what is held is answered, what must be fetched is ``WouldWait``."""

    def test_a_value_to_fetch_would_wait_and_is_not_fetched(self, clock: Clock) -> None:
        source = Source()
        cached = Cached(source, 10, clock=clock)
        with pytest.raises(WouldWait):
            without_waiting(cached.get)
        assert source.calls == 0
        assert cached.get() == "value-1"  # outside, the caller waits as ever

    def test_a_fresh_value_is_answered(self, clock: Clock) -> None:
        source = Source()
        cached = Cached(source, 10, clock=clock)
        cached.get()
        assert without_waiting(cached.get) == "value-1"
        clock.now += 10
        with pytest.raises(WouldWait):
            without_waiting(cached.get)
        with pytest.raises(WouldWait):  # a stale value to serve still needs one renewal
            without_waiting(Cached(source, 0, serve_stale=True, clock=clock).get)
        assert source.calls == 1

    def test_a_recently_expired_value_is_answered_and_renewed_behind(self, clock: Clock) -> None:
        source = Source()
        cached = Cached(source, 1, serve_stale=False, clock=clock)
        cached.get()
        clock.now += 5
        assert without_waiting(cached.get, stale_for=30) == "value-1"
        TestRenewedBehind.settle(cached)
        assert source.calls == 2
        clock.now += 40
        with pytest.raises(WouldWait):
            without_waiting(cached.get, stale_for=30)

    def test_waiting_is_allowed_again_after_the_call(self, clock: Clock) -> None:
        cached = Cached(Source(), 10, clock=clock)
        with pytest.raises(WouldWait):
            without_waiting(cached.get)
        assert without_waiting(lambda: 7) == 7
        assert cached.get() == "value-1"


class TestRenewedBehind:
    """``get(stale_for=...)``: a recently expired value answered at once, renewed behind."""

    @staticmethod
    def settle(cached: Cached[str]) -> None:
        behind = cached._behind
        if behind is not None:
            behind.result(timeout=5)

    def test_an_expired_value_is_answered_and_renewed_behind(self, clock: Clock) -> None:
        source = Source()
        cached = Cached(source, 1, serve_stale=False, clock=clock)
        assert cached.get(stale_for=30) == "value-1"
        clock.now += 5
        assert cached.get(stale_for=30) == "value-1"  # at once, the renewal behind it
        self.settle(cached)
        assert source.calls == 2
        assert cached.get(stale_for=30) == "value-2"

    def test_too_old_a_value_is_renewed_first(self, clock: Clock) -> None:
        source = Source()
        cached = Cached(source, 1, clock=clock)
        cached.get()
        clock.now += 31
        assert cached.get(stale_for=30) == "value-2"

    def test_an_invalidated_value_is_never_answered(self, clock: Clock) -> None:
        source = Source()
        cached = Cached(source, 1, clock=clock)
        cached.get()
        cached.invalidate()
        assert cached.get(stale_for=30) == "value-2"

    def test_a_failed_renewal_behind_is_met_by_the_next_caller_past_the_bound(
        self, clock: Clock
    ) -> None:
        source = Source()
        cached = Cached(source, 1, clock=clock)
        cached.get()
        source.down = True
        clock.now += 2
        assert cached.get(stale_for=30) == "value-1"
        self.settle(cached)
        clock.now += 30
        with pytest.raises(UpstreamUnavailable):
            cached.get(stale_for=30)

    def test_one_renewal_behind_at_a_time(self, clock: Clock) -> None:
        gate = threading.Event()
        calls = []

        def slow() -> str:
            calls.append(1)
            if len(calls) > 1:
                gate.wait(5)
            return f"value-{len(calls)}"

        cached = Cached(slow, 1, clock=clock)
        cached.get()
        clock.now += 2
        answers = [cached.get(stale_for=30) for _ in range(20)]
        gate.set()
        self.settle(cached)
        assert answers == ["value-1"] * 20
        assert len(calls) == 2

    def test_no_more_than_renewers_renew_behind_at_once(self, clock: Clock) -> None:
        gate = threading.Event()
        lock = threading.Lock()
        running = [0]
        most = [0]

        def source(name: str) -> Callable[[], str]:
            calls = []

            def fetch() -> str:
                calls.append(1)
                if len(calls) > 1:
                    with lock:
                        running[0] += 1
                        most[0] = max(most[0], running[0])
                    gate.wait(5)
                    with lock:
                        running[0] -= 1
                return f"{name}-{len(calls)}"

            return fetch

        caches = [Cached(source(f"c{i}"), 1, clock=clock) for i in range(3 * RENEWERS)]
        for cached in caches:
            cached.get()
        clock.now += 2
        assert [c.get(stale_for=30) for c in caches] == [f"c{i}-1" for i in range(3 * RENEWERS)]
        deadline = time.monotonic() + 5
        while running[0] < RENEWERS and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # room for a fifth to start, were it allowed
        assert most[0] == RENEWERS
        gate.set()
        for cached in caches:
            self.settle(cached)
        assert [c.get(stale_for=30) for c in caches] == [f"c{i}-2" for i in range(3 * RENEWERS)]
        assert most[0] == RENEWERS

    def test_a_renewal_behind_that_breaks_is_logged_and_tried_again(
        self, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        calls = []

        def fetch() -> str:
            calls.append(1)
            if len(calls) == 2:
                raise KeyError("engine answer without a key")
            return f"value-{len(calls)}"

        cached = Cached(fetch, 1, clock=clock, name="run list")
        cached.get()
        clock.now += 2
        assert cached.get(stale_for=30) == "value-1"
        self.settle(cached)
        assert cached._behind is None
        failed = [r for r in caplog.records if "renewal behind failed" in r.getMessage()]
        assert failed and failed[0].exc_info is not None
        assert cached.get(stale_for=30) == "value-1"  # renewed behind again
        self.settle(cached)
        assert cached.get(stale_for=30) == "value-3"

    def test_an_exit_never_waits_on_a_renewal_behind(self) -> None:
        """A stalled upstream holds a renewal behind: the interpreter still exits at once."""
        script = textwrap.dedent(
            """
            import time
            from labcas_workflow_api.cache import RENEWERS, Cached

            now = [0.0]
            def source():
                calls = []
                def fetch():
                    calls.append(1)
                    if len(calls) > 1:
                        time.sleep(60)  # an upstream that never answers
                    return len(calls)
                return fetch
            caches = [Cached(source(), 1, clock=lambda: now[0]) for _ in range(2 * RENEWERS)]
            for cached in caches:
                cached.get()
            now[0] += 2
            for cached in caches:
                cached.get(stale_for=30)
            """
        )
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
        assert time.monotonic() - started < 10


class TestRecent:
    def test_a_value_is_kept_until_its_expiry(self, clock: Clock) -> None:
        recent: Recent[str, int] = Recent(10, clock=clock)
        recent.put("a", 1, expires_at=clock.now + 5)
        recent.put("b", 2)
        clock.now += 4.9
        assert (recent.get("a"), recent.get("b")) == (1, 2)
        clock.now += 0.1
        assert (recent.get("a"), recent.get("b")) == (None, 2)
        assert len(recent) == 1

    def test_the_least_recently_used_goes_first(self, clock: Clock) -> None:
        recent: Recent[str, int] = Recent(2, clock=clock)
        recent.put("a", 1)
        recent.put("b", 2)
        assert recent.get("a") == 1
        recent.put("c", 3)
        assert (recent.get("a"), recent.get("b"), recent.get("c")) == (1, None, 3)

    def test_putting_again_replaces(self, clock: Clock) -> None:
        recent: Recent[str, int] = Recent(2, clock=clock)
        recent.put("a", 1, expires_at=clock.now + 1)
        recent.put("a", 2, expires_at=clock.now + 10)
        clock.now += 5
        assert recent.get("a") == 2

    def test_a_weight_bounds_what_is_held(self, clock: Clock) -> None:
        recent: Recent[str, list[int]] = Recent(5, clock=clock, weight=len)
        recent.put("a", [1, 2])
        recent.put("b", [1, 2, 3])
        recent.put("b", [1])  # replaced: its old weight is given back
        recent.put("c", [1, 2])
        assert (recent.get("a"), recent.get("b"), recent.get("c")) == ([1, 2], [1], [1, 2])
        recent.put("d", [1, 2])
        assert (recent.get("a"), recent.get("b"), recent.get("d")) == (None, [1], [1, 2])
        recent.put("e", list(range(6)))  # heavier than the bound: not kept, the rest stays
        assert (recent.get("e"), len(recent)) == (None, 3)

    def test_clear_drops_everything(self, clock: Clock) -> None:
        recent: Recent[str, int] = Recent(2, clock=clock)
        recent.put("a", 1)
        recent.clear()
        recent.put("b", 2)
        recent.put("c", 3)
        assert (recent.get("a"), recent.get("b"), recent.get("c")) == (None, 2, 3)
