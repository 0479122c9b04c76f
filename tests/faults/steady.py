"""Steady traffic against the API while a fault is injected, and checks of what it got back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Call:
    """One kind of request in the mix."""

    name: str
    method: str
    path: str
    json: Any = None


@dataclass(frozen=True)
class Outcome:
    name: str
    started: float
    elapsed: float
    status: int  # 0: no HTTP answer (``error`` says why)
    problem: bool  # an application/problem+json body with a matching status
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Steady:
    """``clients`` threads, each sending the mix in turn with a short pause, until stopped."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        mix: Iterable[Call],
        *,
        clients: int = 3,
        pause: float = 0.05,
        timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.headers = headers
        self.mix = list(mix)
        self.clients = clients
        self.pause = pause
        self.timeout = timeout
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Steady:
        for index in range(self.clients):
            thread = threading.Thread(target=self._loop, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)

    def _loop(self, index: int) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=self.timeout) as http:
            turn = index
            while not self._stop.is_set():
                call = self.mix[turn % len(self.mix)]
                turn += 1
                self._record(self._send(http, call))
                self._stop.wait(self.pause)

    def _send(self, http: httpx.Client, call: Call) -> Outcome:
        began = time.monotonic()
        try:
            answer = http.request(call.method, call.path, json=call.json)
        except httpx.HTTPError as exc:
            return Outcome(call.name, began, time.monotonic() - began, 0, False, repr(exc))
        elapsed = time.monotonic() - began
        problem = False
        if answer.headers.get("content-type", "").startswith("application/problem+json"):
            try:
                problem = answer.json().get("status") == answer.status_code
            except ValueError:
                problem = False
        return Outcome(call.name, began, elapsed, answer.status_code, problem)

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    # -- reading the results -----------------------------------------------------------------

    def between(self, start: float, end: float | None = None) -> list[Outcome]:
        end = end if end is not None else float("inf")
        with self._lock:
            return [o for o in self.outcomes if start <= o.started < end]

    def wait_for(self, predicate: Any, timeout: float, since: float | None = None) -> float:
        """Wait until some outcome (started after ``since``) satisfies ``predicate``; return
        the time it started. ``TimeoutError`` otherwise."""
        since = since if since is not None else time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for outcome in self.between(since):
                if predicate(outcome):
                    return outcome.started
            time.sleep(0.1)
        raise TimeoutError(
            f"no matching answer within {timeout}s; last: {self.between(since)[-5:]}"
        )

    def wait_recovered(self, timeout: float, since: float, streak: int = 2) -> float:
        """Wait until every kind of call answered 2xx ``streak`` times in a row after ``since``;
        return how long that took. ``TimeoutError`` (with the last answers) otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            recent = self.between(since)
            done = True
            for call in self.mix:
                tail = [o for o in recent if o.name == call.name][-streak:]
                if len(tail) < streak or not all(o.ok for o in tail):
                    done = False
                    break
            if done:
                return time.monotonic() - since
            time.sleep(0.2)
        last = {
            c.name: [o.status for o in self.between(since) if o.name == c.name][-4:]
            for c in self.mix
        }
        raise TimeoutError(f"not recovered within {timeout}s: {last}")


def bad_answers(
    outcomes: Iterable[Outcome], allowed: frozenset[int] = frozenset({503, 504}), limit: float = 15
) -> list[str]:
    """What is wrong with answers given during a fault: not 2xx and not an allowed status
    with a problem+json body, no HTTP answer at all, or an answer slower than ``limit``."""
    wrong = []
    for o in outcomes:
        if o.status == 0:
            wrong.append(f"{o.name}: no answer after {o.elapsed:.1f}s ({o.error})")
        elif not o.ok and (o.status not in allowed or not o.problem):
            wrong.append(f"{o.name}: {o.status} problem={o.problem}")
        elif o.elapsed > limit:
            wrong.append(f"{o.name}: {o.status} after {o.elapsed:.1f}s")
    return wrong


def summary(outcomes: list[Outcome]) -> str:
    statuses: dict[int, int] = {}
    for o in outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    slowest = max((o.elapsed for o in outcomes), default=0.0)
    return f"{len(outcomes)} answers {dict(sorted(statuses.items()))}, slowest {slowest:.2f}s"
