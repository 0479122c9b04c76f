"""The audit trail: one structured (JSON) log record per run start, cancellation and
metadata change, on the logger ``labcas_workflow_api.audit``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from labcas_workflow_api.domain.errors import LabcasError

log = logging.getLogger("labcas_workflow_api.audit")


def record(action: str, user: str, request_id: str, outcome: str, **fields: Any) -> None:
    """Write one audit record (who, what, on what, when, request id, outcome)."""
    entry = {
        "audit": action,
        "user": user,
        "at": datetime.now(UTC).isoformat(),
        "request_id": request_id,
        "outcome": outcome,
        **fields,
    }
    log.info(json.dumps(entry, default=str, sort_keys=True))


@contextmanager
def audited(action: str, user: str, request_id: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Record the action's outcome (``ok``, ``refused <status>``, ``failed <status>`` or
    ``error``) with ``fields`` and what the block put in the yielded dict."""
    details: dict[str, Any] = {}
    try:
        yield details
    except LabcasError as exc:
        outcome = f"refused {exc.status}" if exc.status < 500 else f"failed {exc.status}"
        record(action, user, request_id, outcome, detail=exc.detail, **fields, **details)
        raise
    except Exception:
        record(action, user, request_id, "error", **fields, **details)
        raise
    record(action, user, request_id, "ok", **fields, **details)
