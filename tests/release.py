"""Stop each session server as soon as the last test that needs it has run.

Session fixtures live until the session ends, so by default every Airflow started by the
integration suite would keep its scheduler busy through the security, fault and browser suites,
on a 2-core machine. A fixture registers its stop with ``track(name, stop)`` (and calls the
returned function in its own teardown too: it stops once). Each tracked server that no test
from the current one on uses is stopped.

A test uses ``name`` when ``name`` is among its fixtures (directly or through other fixtures),
or when it carries ``@pytest.mark.uses(name)``: the way to declare a fixture reached through
``request.getfixturevalue``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

log = logging.getLogger(__name__)

_tracked: dict[str, Callable[[], None]] = {}
_KEY = pytest.StashKey[tuple[dict[str, int], dict[str, int]]]()


def track(name: str, stop: Callable[[], None]) -> Callable[[], None]:
    """Register the running server of session fixture ``name``; return its stop-once."""
    stopped = False

    def stop_once() -> None:
        nonlocal stopped
        _tracked.pop(name, None)
        if not stopped:
            stopped = True
            stop()

    _tracked[name] = stop_once
    return stop_once


def uses(item: pytest.Item) -> set[str]:
    names = set(getattr(item, "fixturenames", ()))
    for mark in item.iter_markers("uses"):
        names.update(mark.args)
    return names


def _positions(session: pytest.Session) -> tuple[dict[str, int], dict[str, int]]:
    """(test node id -> its index, fixture name -> index of the last test using it)."""
    known = session.stash.get(_KEY, None)
    if known is None:
        index: dict[str, int] = {}
        last: dict[str, int] = {}
        for position, item in enumerate(session.items):
            index[item.nodeid] = position
            for name in uses(item):
                last[name] = position
        known = session.stash[_KEY] = (index, last)
    return known


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "uses(*fixtures): session fixtures a test reaches through getfixturevalue"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Once the next test is set up, stop what neither it nor any later test uses. (Not at the
    teardown of the last user: a module-scoped fixture built on the server, such as one
    parametrized per engine, is torn down only while the next test is set up.)"""
    try:
        return (yield)
    finally:
        index, last = _positions(item.session)
        here = index.get(item.nodeid, -1)
        for name, stop in list(_tracked.items()):
            if last.get(name, -1) < here:
                log.info("stopping %s: no later test uses it", name)
                stop()
