"""The staging store with listings reused a few seconds (storage/listed.py) over the fake
store: what is reused, for how long, and that nothing reaches the store on the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from labcas_workflow_api.cache import WouldWait, without_waiting
from labcas_workflow_api.domain.models import Write
from labcas_workflow_api.storage import listed as listed_module
from labcas_workflow_api.storage.listed import ListedStore
from tests.unit.fakes import STAGING, FakeStore
from tests.unit.test_outputs_service import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> FakeStore:
    store = FakeStore()
    store.add("thomas/run1/a.csv")
    return store


def names(listed: ListedStore) -> list[str]:
    return [o.key for o in listed.list(STAGING, "thomas/run1/").objects]


class TestReuse:
    def test_a_listing_is_reused_for_its_ttl_then_listed_again(
        self, store: FakeStore, clock: Clock
    ) -> None:
        listed = ListedStore(store, 2.0, clock=clock)
        assert names(listed) == ["thomas/run1/a.csv"]
        store.add("thomas/run1/b.csv")  # a workflow writes meanwhile
        clock.now += 1.9
        assert names(listed) == ["thomas/run1/a.csv"]
        clock.now += 0.1
        assert names(listed) == ["thomas/run1/a.csv", "thomas/run1/b.csv"]
        assert store.calls["list"] == 2

    def test_each_place_and_size_is_its_own_listing(self, store: FakeStore, clock: Clock) -> None:
        listed = ListedStore(store, 2.0, clock=clock)
        listed.list(STAGING, "thomas/run1/", limit=10)
        listed.list(STAGING, "thomas/run1/", limit=11)
        listed.list(STAGING, "thomas/run1/", start_after="thomas/run1/a.csv", limit=10)
        listed.list(STAGING, "thomas/", limit=10)
        assert store.calls["list"] == 4

    def test_afresh_lists_again_and_what_it_read_is_reused(
        self, store: FakeStore, clock: Clock
    ) -> None:
        listed = ListedStore(store, 2.0, clock=clock)
        names(listed)
        store.add("thomas/run1/b.csv")
        assert names(listed.afresh()) == ["thomas/run1/a.csv", "thomas/run1/b.csv"]
        assert names(listed) == ["thomas/run1/a.csv", "thomas/run1/b.csv"]
        assert store.calls["list"] == 2

    def test_forget_drops_every_listing(self, store: FakeStore, clock: Clock) -> None:
        listed = ListedStore(store, 2.0, clock=clock)
        names(listed)
        listed.forget()
        names(listed)
        assert store.calls["list"] == 2

    def test_what_is_held_is_bounded_by_its_keys(
        self, store: FakeStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(listed_module, "HELD_KEYS", 2)  # a listing of 1 key weighs 2
        listed = ListedStore(store, 2.0, clock=clock)
        names(listed)
        names(listed)
        store.add("thomas/run1/b.csv")
        listed.afresh().list(STAGING, "thomas/run1/")  # 2 keys weigh 3: not held
        names(listed)
        assert store.calls["list"] == 3

    def test_a_ttl_of_0_lists_every_time(self, store: FakeStore, clock: Clock) -> None:
        listed = ListedStore(store, 0.0, clock=clock)
        names(listed)
        names(listed)
        assert store.calls["list"] == 2


WAITING: dict[str, Callable[[ListedStore], Any]] = {
    "list": lambda s: s.list(STAGING, "thomas/run1/"),
    "head_many": lambda s: s.head_many(STAGING, ["thomas/run1/a.csv"]),
    "get_many": lambda s: s.get_many(STAGING, ["thomas/run1/a.csv"]),
    "put_many": lambda s: s.put_many(STAGING, [Write("thomas/x", b"", "text/plain")]),
    "ping": lambda s: s.ping(STAGING),
    "presign_get": lambda s: s.presign_get(STAGING, "thomas/run1/a.csv", 60),
}


class TestOnTheEventLoop:
    @pytest.mark.parametrize("call", list(WAITING))
    def test_nothing_reaches_the_store(self, store: FakeStore, clock: Clock, call: str) -> None:
        listed = ListedStore(store, 2.0, clock=clock)
        with pytest.raises(WouldWait):
            without_waiting(WAITING[call], listed)
        assert sum(store.calls.values()) == 0

    def test_a_held_listing_is_answered(self, store: FakeStore, clock: Clock) -> None:
        listed = ListedStore(store, 2.0, clock=clock)
        names(listed)
        assert without_waiting(names, listed) == ["thomas/run1/a.csv"]
        with pytest.raises(WouldWait):
            without_waiting(names, listed.afresh())
        assert store.calls["list"] == 1
