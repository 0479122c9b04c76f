"""A caller's run list is read from Airflow at most once a second, and never stale for the
caller's own starts and cancellations (counted at the proxy in front of Airflow)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.security.stack import Api, Stack

pytestmark = pytest.mark.integration

LIST = "GET /api/v2/dags/alpha/dagRuns?"


def reads(stack: Stack) -> int:
    return sum(1 for line in stack.airflow_proxy.request_lines if line.startswith(LIST))


def test_polling_is_served_from_a_one_second_cache(api: Api, stack: Stack) -> None:
    with httpx.Client(base_url=api.url, headers=api.headers("dliu"), timeout=30) as http:
        time.sleep(1.1)
        before = reads(stack)
        for _ in range(10):
            assert http.get("/workflows/alpha/runs").status_code == 200
        assert reads(stack) - before <= 2
        time.sleep(1.1)
        http.get("/workflows/alpha/runs")
        assert reads(stack) - before <= 3


def test_own_starts_and_cancels_show_at_once(api: Api, stack: Stack) -> None:
    with httpx.Client(base_url=api.url, headers=api.headers("dliu"), timeout=30) as http:
        listed = {r["run_id"] for r in http.get("/workflows/alpha/runs").json()["runs"]}
        started = http.post("/workflows/alpha/runs", json={"in_data_selection": "tiny"})
        assert started.status_code == 201
        run_id = started.json()["run_id"]
        runs = http.get("/workflows/alpha/runs").json()["runs"]
        assert {r["run_id"] for r in runs} == listed | {run_id}
        cancelled = http.post(f"/workflows/alpha/runs/{run_id}/cancel")
        if cancelled.status_code == 200:  # the cheap DAG may have finished already (409)
            runs = http.get("/workflows/alpha/runs").json()["runs"]
            assert next(r for r in runs if r["run_id"] == run_id)["status"] == "cancelled"
