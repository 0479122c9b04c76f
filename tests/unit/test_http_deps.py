"""The one way off the event loop: each upstream's own bounded pool, and no thread for
``/healthz``."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI

from labcas_workflow_api.http.deps import ENGINE, STORAGE, Pool, off_loop


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


def test_healthz_answers_with_every_thread_taken(client: Any) -> None:
    app: FastAPI = client.app

    async def scenario() -> None:
        taken = [
            (limiter, await _fill(limiter))
            for limiter in (
                anyio.to_thread.current_default_thread_limiter(),
                ENGINE.limiter(),
                STORAGE.limiter(),
            )
        ]
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                with anyio.fail_after(2):
                    answer = await http.get("/healthz")
            assert answer.status_code == 200 and answer.json() == {"status": "ok"}
        finally:
            for limiter, holders in taken:
                _drain(limiter, holders)

    anyio.run(scenario)
