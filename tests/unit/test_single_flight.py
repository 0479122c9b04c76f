"""Single flight: one renewal at a time, and one answer for everyone who waited on it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from labcas_workflow_api.domain.errors import UpstreamTimeout
from labcas_workflow_api.single_flight import SingleFlight


class Upstream:
    """A renewal that takes ``seconds`` and fails while ``silent``."""

    def __init__(self, seconds: float = 0.2) -> None:
        self.seconds = seconds
        self.silent = True
        self.calls = 0
        self.value: str | None = None
        self._lock = threading.Lock()

    def cached(self) -> str | None:
        return self.value

    def renew(self) -> str:
        with self._lock:
            self.calls += 1
        time.sleep(self.seconds)
        if self.silent:
            raise UpstreamTimeout("Airflow did not answer in time (POST /auth/token)")
        self.value = f"token-{self.calls}"
        return self.value


def outcomes(renewal: SingleFlight[str], upstream: Upstream, callers: int) -> list[str]:
    def call(_: int) -> str:
        try:
            return renewal.get(upstream.cached, upstream.renew)
        except UpstreamTimeout as exc:
            return f"504: {exc.detail}"

    with ThreadPoolExecutor(callers) as pool:
        return list(pool.map(call, range(callers)))


def test_callers_waiting_on_a_failed_renewal_share_its_error() -> None:
    renewal: SingleFlight[str] = SingleFlight()
    upstream = Upstream(seconds=0.3)
    began = time.monotonic()
    answers = outcomes(renewal, upstream, 30)
    elapsed = time.monotonic() - began
    assert set(answers) == {"504: Airflow did not answer in time (POST /auth/token)"}
    assert upstream.calls <= 3  # not 30 renewals of 0.3 s one after another
    assert elapsed < 1.5


def test_a_later_caller_tries_again_and_everyone_gets_the_fresh_value() -> None:
    renewal: SingleFlight[str] = SingleFlight()
    upstream = Upstream(seconds=0.05)
    with pytest.raises(UpstreamTimeout):
        renewal.get(upstream.cached, upstream.renew)
    upstream.silent = False
    assert set(outcomes(renewal, upstream, 20)) == {"token-2"}
    assert upstream.calls == 2


def test_a_cached_value_is_returned_without_renewing() -> None:
    renewal: SingleFlight[str] = SingleFlight()
    upstream = Upstream(seconds=0)
    upstream.value = "kept"
    assert renewal.get(upstream.cached, upstream.renew) == "kept"
    assert upstream.calls == 0
