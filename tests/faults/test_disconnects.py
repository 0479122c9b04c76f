"""A client that goes away mid-request is an INFO line, not an error with a traceback (issue
10.15), on the real ``labcas-workflow-api serve``; the audit trail says so too."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from labcas_workflow_api.auth.jwt import mint_token
from tests.security.stack import SECRET, Stack, serve_process

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("method", "path", "action"),
    [("POST", "/workflows/alpha/runs", "run.start"), ("PUT", "/output-data/x", "metadata.update")],
)
def test_a_client_gone_mid_body_is_logged_at_info(
    stack: Stack, fault_config: Path, tmp_path: Path, method: str, path: str, action: str
) -> None:
    with serve_process(stack, fault_config, tmp_path) as served:
        port = int(served.url.rsplit(":", 1)[1])
        rid = f"gone-{time.monotonic_ns()}"
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Request-ID: {rid}\r\n"
            f"Authorization: Bearer {mint_token(SECRET, 'thomas')}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(head.encode() + b'{"in_data_selection": ')
            time.sleep(0.5)
        time.sleep(1.0)
        log = served.log.read_text()
        audit = [json.loads(line) for line in served.lines("labcas_workflow_api.audit")]
    mine = [line for line in log.splitlines() if rid in line]
    print("\n" + "\n".join(mine))
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    assert any(" INFO labcas_workflow_api.http " in line and "went away" in line for line in mine)
    records = [r for r in audit if r["request_id"] == rid]
    assert [(r["audit"], r["outcome"]) for r in records] == [(action, "client gone")]
