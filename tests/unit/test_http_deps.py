"""The one way off the event loop: each upstream's own bounded pool; nothing in FastAPI's
default thread pool; no thread at all for ``/healthz``."""

from __future__ import annotations

import inspect
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from labcas_workflow_api.http.app import ROUTERS
from labcas_workflow_api.http.deps import AUTH, ENGINE, STORAGE, Pool, off_loop


async def _fill(limiter: anyio.CapacityLimiter) -> list[object]:
    holders = [object() for _ in range(int(limiter.total_tokens))]
    for holder in holders:
        await limiter.acquire_on_behalf_of(holder)
    return holders


def _drain(limiter: anyio.CapacityLimiter, holders: list[object]) -> None:
    for holder in holders:
        limiter.release_on_behalf_of(holder)


@pytest.mark.parametrize(("stalled", "free"), [(STORAGE, ENGINE), (ENGINE, STORAGE)])
def test_a_full_pool_stalls_its_own_calls_only(stalled: Pool, free: Pool) -> None:
    async def scenario() -> None:
        limiter = stalled.limiter()
        holders = await _fill(limiter)
        try:
            assert await off_loop(free, sum, [1, 2]) == 3
            with pytest.raises(TimeoutError), anyio.fail_after(0.2):
                await off_loop(stalled, sum, [1, 2])
        finally:
            _drain(limiter, holders)
        assert await off_loop(stalled, sum, [1, 2]) == 3

    anyio.run(scenario)


def _calls(dependant: Dependant) -> list[Any]:
    return [dependant.call, *(c for d in dependant.dependencies for c in _calls(d))]


def test_no_route_or_dependency_runs_in_fastapis_thread_pool(client: Any) -> None:
    own = [r for r in client.app.routes if isinstance(r, APIRoute)]
    routes = [*own, *(r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute))]
    sync = {
        f"{r.path}: {call.__name__}"
        for r in routes
        for call in _calls(r.dependant)
        if not inspect.iscoroutinefunction(call)
    }
    assert routes and not sync


def _get_while_full(app: FastAPI, pools: list[Pool | None], url: str, **headers: str) -> Any:
    """GET ``url`` while every thread of ``pools`` is taken (None: FastAPI's default pool)."""

    async def scenario() -> httpx.Response:
        limiters = [
            p.limiter() if p else anyio.to_thread.current_default_thread_limiter() for p in pools
        ]
        taken = [(limiter, await _fill(limiter)) for limiter in limiters]
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                with anyio.fail_after(2):
                    return await http.get(url, headers=headers)
        finally:
            for limiter, holders in taken:
                _drain(limiter, holders)

    return anyio.run(scenario)


def test_healthz_answers_with_every_thread_taken(client: Any) -> None:
    answer = _get_while_full(client.app, [None, AUTH, ENGINE, STORAGE], "/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_a_full_storage_pool_does_not_stop_run_listings(client: Any, auth: Any) -> None:
    url = "/workflows/nebraska_demo/runs"
    answer = _get_while_full(client.app, [None, STORAGE], url, **auth("thomas"))
    assert answer.status_code == 200 and answer.json() == {"runs": []}
