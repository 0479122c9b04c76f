"""The audit trail on the real stack: one JSON record per run start, cancellation, metadata
change (with the values written), task-log read, output browse (with the download links it
handed out), refused read of a run and refused token (who, what, on what, when, request id,
outcome), refusals and 413s included, and an X-Request-ID on every answer. The last tests
read the records and the access log from a real ``labcas-workflow-api serve`` process's
stderr, the way docs/audit.md tells operators to."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security import raw
from tests.security.stack import STAGING, Api, Stack, serve_process
from tests.security.tokens import b64, claims, hs

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
    # thomas may use tiny (gamma) and alpha (elsewhere), not together: 403 (see matrix.py)
    answer, rid = call(http, api, "thomas", "POST", "/workflows/alpha/runs", json=body)
    assert answer.status_code == 403
    assert one(audit, rid)["outcome"] == "refused 403"
    answer, rid = call(http, api, "dliu", "POST", "/workflows/alpha/runs", json=body)
    assert answer.status_code == 404, "dliu may use tiny for nothing"
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


def test_metadata_values_are_recorded(
    api: Api, stack: Stack, http: httpx.Client, audit: Records
) -> None:
    stack.s3_client(direct=True).put_object(Bucket=STAGING, Key="eve/audit/v.csv", Body=b"1")
    files = {"files": {"v.csv": {"properties": {"reviewed": "yes", "grade": "3"}}}}
    _, rid = call(http, api, "eve", "PUT", "/output-data/audit", json=files)
    assert one(audit, rid)["values"] == {"v.csv": {"reviewed": "yes", "grade": "3"}}


def test_failed_authentication_is_recorded_without_the_token(
    api: Api, http: httpx.Client, audit: Records
) -> None:
    expired = api.token("eve", ttl=-3600)
    forged = hs("not-the-secret", claims(sub="eve"))
    odd_algorithm = f"{b64({'alg': 'SECRET-LOOKING', 'typ': 'JWT'})}.{b64(claims())}.c2ln"
    for token, reason in (
        (None, "missing bearer token"),
        ("garbage", "malformed token"),
        (expired, "token expired"),
        (forged, "token signature is invalid"),
        (odd_algorithm, "token algorithm is not accepted"),
    ):
        rid = f"audit-{uuid.uuid4().hex[:12]}"
        headers = {"X-Request-ID": rid}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        answer = http.get("/workflows", headers=headers)
        assert answer.status_code == 401
        entry = one(audit, rid)
        assert (entry["audit"], entry["user"], entry["outcome"]) == (
            "auth.failed",
            None,
            "refused 401",
        )
        assert (entry["reason"], entry["path"], entry["client"]) == (
            reason,
            "/workflows",
            "127.0.0.1",
        )
        text = json.dumps(entry)
        for part in (token or "").split("."):
            assert not part or part not in text, "no part of the token is recorded"
        assert "SECRET-LOOKING" not in text


def test_refused_reads_of_runs_are_recorded(api: Api, http: httpx.Client, audit: Records) -> None:
    body = {"in_data_selection": "tiny"}
    started, _ = call(http, api, "eve", "POST", "/workflows/alpha/runs", json=body)
    run_id = started.json()["run_id"]
    answer, rid = call(http, api, "eve", "GET", f"/workflows/alpha/runs/{run_id}")
    assert answer.status_code == 200
    assert audit.of(rid) == [], "the owner's reads are not recorded (clients poll them)"
    for intruder in ("thomas", "dliu", "heather", "mallory"):
        answer, rid = call(http, api, intruder, "GET", f"/workflows/alpha/runs/{run_id}")
        assert answer.status_code == 404
        entry = one(audit, rid)
        assert (entry["audit"], entry["user"], entry["run_id"], entry["outcome"]) == (
            "run.read",
            intruder,
            run_id,
            "refused 404",
        )


def test_task_log_reads_are_recorded(api: Api, http: httpx.Client, audit: Records) -> None:
    body = {"in_data_selection": "tiny"}
    started, _ = call(http, api, "eve", "POST", "/workflows/alpha/runs", json=body)
    run_id = started.json()["run_id"]
    path = f"/workflows/alpha/runs/{run_id}/tasks/start/logs"
    _, rid = call(http, api, "eve", "GET", path, params={"try": 1})
    entry = one(audit, rid)
    assert (entry["audit"], entry["user"], entry["run_id"], entry["workflow"]) == (
        "log.read",
        "eve",
        run_id,
        "alpha",
    )
    assert entry["task"] == {"task_id": "start", "try_number": 1, "map_index": None}
    answer, rid = call(http, api, "thomas", "GET", path)
    assert answer.status_code == 404
    assert (one(audit, rid)["user"], one(audit, rid)["outcome"]) == ("thomas", "refused 404")


def test_browsing_records_every_link_handed_out(
    api: Api, stack: Stack, http: httpx.Client, audit: Records
) -> None:
    s3 = stack.s3_client(direct=True)
    for key in ("eve/browse/a.csv", "eve/browse/b.csv", "eve/browse/sub/c.csv"):
        s3.put_object(Bucket=STAGING, Key=key, Body=b"1")
    answer, rid = call(http, api, "eve", "GET", "/output-data/browse/")
    assert answer.status_code == 200
    entry = one(audit, rid)
    assert (entry["audit"], entry["user"], entry["path"], entry["outcome"]) == (
        "output.browse",
        "eve",
        "browse/",
        "ok",
    )
    assert entry["links"] == ["browse/a.csv", "browse/b.csv"]
    assert entry["link_ttl"] == api.settings.presign_ttl
    signatures = [f["href"].split("?", 1)[1] for f in answer.json()["files"].values()]
    assert signatures and not any(sig in json.dumps(entry) for sig in signatures)
    html, rid = call(
        http, api, "eve", "GET", "/output-data/browse/", headers={"Accept": "text/html"}
    )
    assert html.status_code == 200 and one(audit, rid)["links"] == entry["links"]
    missing, rid = call(http, api, "eve", "GET", "/output-data/no-such-folder/")
    assert missing.status_code == 404
    assert one(audit, rid)["outcome"] == "refused 404"


@pytest.mark.parametrize(
    ("method", "path", "action"),
    [("POST", "/workflows/alpha/runs", "run.start"), ("PUT", "/output-data/x", "metadata.update")],
)
def test_too_large_bodies_are_recorded(
    api: Api, audit: Records, method: str, path: str, action: str
) -> None:
    rid = f"audit-{uuid.uuid4().hex[:12]}"
    sent = [*api.headers("eve").items(), ("X-Request-ID", rid), ("Content-Length", "999999999")]
    assert raw.request(api.url, method, path, sent).status == 413  # type: ignore[arg-type]
    entry = one(audit, rid)
    assert (entry["audit"], entry["user"], entry["outcome"]) == (action, "eve", "refused 413")
    rid = f"audit-{uuid.uuid4().hex[:12]}"
    big = b'{"in_data_selection": "tiny", "note": "' + b"x" * 300_000 + b'"}'
    sent = [*api.headers("eve").items(), ("X-Request-ID", rid), ("Transfer-Encoding", "chunked")]
    chunked = hex(len(big))[2:].encode() + b"\r\n" + big + b"\r\n0\r\n\r\n"
    assert raw.request(api.url, method, path, sent, chunked).status == 413  # type: ignore[arg-type]
    assert one(audit, rid)["outcome"] == "refused 413"


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
    with serve_process(stack, config_path, tmp_path) as served:
        api = Api(served.url, None, None, None)  # type: ignore[arg-type]
        rid = f"log-{uuid.uuid4().hex[:8]}"
        answer = httpx.post(
            served.url + "/workflows/alpha/runs",
            json={"in_data_selection": "tiny"},
            headers={**api.headers("eve"), "X-Request-ID": rid},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        time.sleep(0.5)
    records = [json.loads(line) for line in served.lines("labcas_workflow_api.audit")]
    mine = [r for r in records if r["request_id"] == rid]
    assert len(mine) == 1, served.log.read_text()[-2000:]
    assert (mine[0]["audit"], mine[0]["user"], mine[0]["outcome"]) == ("run.start", "eve", "ok")
    assert mine[0]["run_id"] == answer.json()["run_id"]


def test_serve_writes_one_access_line_per_request(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    """One JSON line per request on ``labcas_workflow_api.access``: method, path, status, user
    (once the token was accepted), request id and duration."""
    with serve_process(stack, config_path, tmp_path) as served:
        api = Api(served.url, None, None, None)  # type: ignore[arg-type]
        sent = []
        with httpx.Client(base_url=served.url, timeout=30) as http:
            for method, path, user, status in (
                ("GET", "/healthz", None, 200),
                ("GET", "/workflows", "eve", 200),
                ("GET", "/workflows", None, 401),
                ("GET", "/no/such/route", "eve", 404),
                ("POST", "/workflows/alpha/runs?dry_run=true", "eve", 200),
            ):
                rid = f"access-{uuid.uuid4().hex[:8]}"
                headers = {"X-Request-ID": rid, **(api.headers(user) if user else {})}
                answer = http.request(
                    method, path, headers=headers, json={"in_data_selection": "tiny"}
                )
                assert answer.status_code == status, answer.text
                sent.append((method, path.split("?")[0], status, user, rid))
        time.sleep(0.5)
        lines = [json.loads(line) for line in served.lines("labcas_workflow_api.access")]
    for method, path, status, user, rid in sent:
        mine = [line for line in lines if line["request_id"] == rid]
        assert len(mine) == 1, lines
        line = mine[0]
        assert (line["method"], line["path"], line["status"], line["user"]) == (
            method,
            path,
            status,
            None if path == "/no/such/route" else user,  # no route: no token checked
        )
        assert isinstance(line["ms"], int | float) and 0 <= line["ms"] < 30_000


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/workflows/alpha/runs"), ("PUT", "/output-data/x")]
)
def test_a_body_framed_two_ways_never_reaches_an_endpoint(
    api: Api, audit: Records, method: str, path: str
) -> None:
    """Content-Length and Transfer-Encoding together (the request-smuggling shape, RFC 9112
    6.1) are refused by the server's parser as a 400 problem; no endpoint sees the request."""
    rid = f"audit-{uuid.uuid4().hex[:12]}"
    body = b'{"in_data_selection": "tiny"}'
    chunked = hex(len(body))[2:].encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"
    sent = [
        *api.headers("eve").items(),
        ("X-Request-ID", rid),
        ("Content-Length", str(len(chunked))),
        ("Transfer-Encoding", "chunked"),
    ]
    answer = raw.request(api.url, method, path, sent, chunked)  # type: ignore[arg-type]
    assert answer.status == 400
    assert answer.content_type.startswith("application/problem+json")
    assert answer.json()["detail"] == "malformed HTTP request"
    assert audit.of(rid) == []
