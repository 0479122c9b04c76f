"""The audit trail on the real stack: one JSON record per run start, cancellation and metadata
change (who, what, on what, when, request id, outcome), refusals included, and an
X-Request-ID on every answer. The last test reads the records from a real
``labcas-workflow-api serve`` process's stderr, the way docs/audit.md tells operators to."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from labcas_workflow_api.devstack.process import free_port
from tests.security import raw
from tests.security.stack import SECRET, STAGING, Api, Stack, wait_until

pytestmark = pytest.mark.integration

FIELDS = {"audit", "user", "at", "request_id", "outcome"}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.entries: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(json.loads(record.getMessage()))

    def of(self, request_id: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["request_id"] == request_id]


@pytest.fixture
def audit() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("labcas_workflow_api.audit")
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.fixture
def http(api: Api) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        yield client


def call(http: httpx.Client, api: Api, user: str, method: str, path: str, **kw: Any) -> Any:
    rid = f"audit-{uuid.uuid4().hex[:12]}"
    headers = {**api.headers(user), "X-Request-ID": rid, **kw.pop("headers", {})}
    answer = http.request(method, path, headers=headers, **kw)
    assert answer.headers["x-request-id"] == rid
    return answer, rid


def one(audit: Records, rid: str) -> dict[str, Any]:
    entries = audit.of(rid)
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry.keys() >= FIELDS
    moment = datetime.fromisoformat(entry["at"])
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)
    return entry


def test_run_start_replay_and_cancel(api: Api, http: httpx.Client, audit: Records) -> None:
    body = {"in_data_selection": "tiny", "note": "audited"}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    started, rid = call(http, api, "eve", "POST", "/workflows/alpha/runs", json=body, headers=key)
    assert started.status_code == 201
    run_id = started.json()["run_id"]
    assert one(audit, rid) | {"at": None} == {
        "audit": "run.start",
        "user": "eve",
        "at": None,
        "request_id": rid,
        "outcome": "ok",
        "workflow": "alpha",
        "data_selection": "tiny",
        "run_id": run_id,
        "replayed": False,
    }
    _, rid = call(http, api, "eve", "POST", "/workflows/alpha/runs", json=body, headers=key)
    assert one(audit, rid)["replayed"] is True
    cancelled, rid = call(http, api, "eve", "POST", f"/workflows/alpha/runs/{run_id}/cancel")
    entry = one(audit, rid)
    assert (entry["audit"], entry["run_id"], entry["workflow"]) == ("run.cancel", run_id, "alpha")
    assert entry["outcome"] == ("ok" if cancelled.status_code == 200 else "refused 409")


def test_refusals_are_audited_too(api: Api, http: httpx.Client, audit: Records) -> None:
    body = {"in_data_selection": "tiny"}
    answer, rid = call(http, api, "dliu", "POST", "/workflows/alpha/runs", json=body)
    assert answer.status_code == 404  # a data selection dliu may use nowhere: no oracle
    assert one(audit, rid)["outcome"] == "refused 404"
    answer, rid = call(http, api, "eve", "POST", "/workflows/alpha/runs", json={"tile_size": 1})
    assert answer.status_code == 400
    assert one(audit, rid)["outcome"] == "refused 400"
    answer, rid = call(http, api, "mallory", "POST", "/workflows/alpha/runs/labcas__eve__x/cancel")
    assert answer.status_code == 404
    entry = one(audit, rid)
    assert (entry["user"], entry["outcome"]) == ("mallory", "refused 404")


def test_dry_runs_are_not_run_starts(api: Api, http: httpx.Client, audit: Records) -> None:
    body = {"in_data_selection": "tiny"}
    _, rid = call(http, api, "eve", "POST", "/workflows/alpha/runs?dry_run=true", json=body)
    assert one(audit, rid)["audit"] == "run.validate"


def test_metadata_changes(api: Api, stack: Stack, http: httpx.Client, audit: Records) -> None:
    stack.s3_client(direct=True).put_object(Bucket=STAGING, Key="eve/audit/a.csv", Body=b"1")
    files = {"files": {"a.csv": {"properties": {"reviewed": "yes"}}}}
    answer, rid = call(http, api, "eve", "PUT", "/output-data/audit", json=files)
    assert answer.status_code == 200
    entry = one(audit, rid)
    assert (entry["audit"], entry["path"], entry["files"], entry["outcome"]) == (
        "metadata.update",
        "audit",
        ["a.csv"],
        "ok",
    )
    files = {"files": {"a.csv": {"properties": {"bad key": "x"}}}}
    answer, rid = call(http, api, "eve", "PUT", "/output-data/audit", json=files)
    assert answer.status_code == 400
    assert one(audit, rid)["outcome"] == "refused 400"


@pytest.mark.parametrize(
    "method,path,headers,status",
    [
        ("GET", "/healthz", {}, 200),
        ("GET", "/workflows", {}, 401),
        ("GET", "/no/such/route", {}, 404),
        ("DELETE", "/workflows", {}, 405),
        ("OPTIONS", "/workflows", {"Origin": "http://127.0.0.1"}, 204),
        ("PUT", "/output-data/x", {"Content-Length": "999999999"}, 413),
    ],
)
def test_every_answer_carries_a_request_id(
    api: Api, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    auth = api.headers("eve") if status == 413 else {}

    def send(request_id: bytes | None) -> raw.RawResponse:
        sent = [*auth.items(), *headers.items()]
        if request_id is not None:
            sent.append(("X-Request-ID", request_id))
        return raw.request(api.url, method, path, sent)  # type: ignore[arg-type]

    answer = send(None)
    assert answer.status == status
    made = answer.headers["x-request-id"]
    assert made and len(made) <= 128
    assert send(b"ops-42").headers["x-request-id"] == "ops-42"
    for hostile in (b"a b", b"x" * 129, b"<script>", "id\u00e9".encode(), b"\xff\xfe"):
        replaced = send(hostile).headers["x-request-id"]
        assert replaced and replaced.encode("latin-1") != hostile


def test_records_reach_the_server_log(stack: Stack, config_path: Path, tmp_path: Path) -> None:
    """``labcas-workflow-api serve`` writes each record as one line on stderr."""
    port = free_port()
    env = {
        **os.environ,
        **stack.s3.env(),
        "LABCAS_S3_ENDPOINT_URL": stack.s3_proxy.url,
        "LABCAS_CONFIG": str(config_path),
        "LABCAS_ENGINE_URL": stack.airflow_proxy.url,
        "LABCAS_ENGINE_USERNAME": stack.airflow.username,
        "LABCAS_ENGINE_PASSWORD": stack.airflow.password,
        "LABCAS_STAGING_BUCKET": STAGING,
        "LABCAS_JWT_SECRET": SECRET,
    }
    log_path = tmp_path / "server.log"
    command = [sys.executable, "-m", "labcas_workflow_api.cli", "serve", "--port", str(port)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, env=env, stderr=log, stdout=log, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 30)
        api = Api(url, None, None, None)  # type: ignore[arg-type]
        rid = f"log-{uuid.uuid4().hex[:8]}"
        answer = httpx.post(
            url + "/workflows/alpha/runs",
            json={"in_data_selection": "tiny"},
            headers={**api.headers("eve"), "X-Request-ID": rid},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=15)
    lines = [
        line for line in log_path.read_text().splitlines() if " labcas_workflow_api.audit " in line
    ]
    records = [json.loads(line.split(" labcas_workflow_api.audit ", 1)[1]) for line in lines]
    mine = [r for r in records if r["request_id"] == rid]
    assert len(mine) == 1, log_path.read_text()[-2000:]
    assert (mine[0]["audit"], mine[0]["user"], mine[0]["outcome"]) == ("run.start", "eve", "ok")
    assert mine[0]["run_id"] == answer.json()["run_id"]
