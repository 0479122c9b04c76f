"""Starts of runs: what a start gave, keyed run ids, and one trigger for identical starts in
flight at once."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labcas_workflow_api.domain.errors import BadRequest, LabcasError, UpstreamError
from labcas_workflow_api.domain.models import Run
from labcas_workflow_api.service.run_conf import run_id_prefix

_MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True)
class Started:
    """The outcome of a start: the run, the conf sent, and whether it was a replay."""

    run: Run
    conf: dict[str, Any]
    replayed: bool = False


def keyed_run_id(username: str, workflow_id: str, idempotency_key: str) -> str:
    """The run id of every start with this key (BadRequest for a bad key)."""
    if not 0 < len(idempotency_key) <= _MAX_IDEMPOTENCY_KEY or not idempotency_key.isprintable():
        raise BadRequest("Idempotency-Key must be 1 to 255 printable characters")
    digest = hashlib.sha256(f"{workflow_id}\0{idempotency_key}".encode()).hexdigest()
    return f"{run_id_prefix(username)}k{digest[:24]}"


def unconfirmed(exc: UpstreamError, run_id: str) -> UpstreamError:
    """The engine's failure, naming the run that may still start (Airflow may yet process a
    trigger whose answer we gave up on): the caller can look it up instead of starting it
    again."""
    return type(exc)(f"{exc.detail}; run {run_id!r} may still start", **exc.extra, run_id=run_id)


class Starts:
    """Starts of one run id in flight in this process. The first runs; identical ones that
    arrive meanwhile (a double click, a client retrying after its timeout) wait for its outcome
    instead of sending Airflow the same trigger again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, tuple[threading.Event, list[Started | LabcasError]]] = {}

    def once(self, run_id: str, start: Callable[[], Started]) -> Started:
        with self._lock:
            leader = run_id not in self._flights
            done, outcome = self._flights.setdefault(run_id, (threading.Event(), []))
        if not leader:
            done.wait()
            if not outcome:  # the first start failed unexpectedly: try on our own
                return start()
            first = outcome[0]
            if isinstance(first, LabcasError):
                raise first.again()
            return Started(first.run, first.conf, replayed=True)
        try:
            started = start()
            outcome.append(started)
            return started
        except LabcasError as exc:
            outcome.append(exc)
            raise
        finally:
            with self._lock:
                del self._flights[run_id]
            done.set()
