"""Airflow 3 restarted with a new JWT signing key while the API is serving.

Airflow then refuses the API's cached token with 403 ``Invalid JWT token`` (not 401). The API
must get a new token by itself and answer normally within seconds, without being restarted.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.security.stack import Stack, serve_api

pytestmark = pytest.mark.integration

RECOVERY = 5.0  # seconds after Airflow is ready again
ENGINE_PATHS = ("/workflows", "/workflows/alpha/runs")


def test_airflow_restarted_with_a_new_jwt_secret(stack: Stack, fault_config: Path) -> None:
    # No engine caches: every request below asks Airflow, with the token cached before.
    settings = stack.settings(str(fault_config), engine_cache_ttl=0, run_list_ttl=0)
    with (
        serve_api(stack, settings) as api,
        httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http,
    ):
        before = {path: http.get(path) for path in ENGINE_PATHS}
        assert all(r.status_code == 200 for r in before.values()), before
        ready_after = stack.airflow.restart(new_jwt_secret=True)
        began = time.monotonic()
        answers: list[tuple[float, str, int, str]] = []
        while True:
            statuses = {}
            for path in ENGINE_PATHS:
                answer = http.get(path)
                statuses[path] = answer.status_code
                if answer.status_code != 200:
                    answers.append(
                        (time.monotonic() - began, path, answer.status_code, answer.text[:200])
                    )
            if all(status == 200 for status in statuses.values()):
                break
            if time.monotonic() - began > RECOVERY:
                pytest.fail(
                    f"the API still fails {RECOVERY:.0f} s after Airflow came back with a new "
                    f"JWT secret: {statuses}; first refusals: {answers[:4]}"
                )
            time.sleep(0.2)
        recovered = time.monotonic() - began
        assert http.get("/workflows").json() == before["/workflows"].json()
    print(
        f"\nAirflow restarted with a new JWT secret (ready after {ready_after:.1f} s); the API "
        f"answered normally {recovered:.2f} s later, {len(answers)} failed answers before"
    )
