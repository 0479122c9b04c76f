"""The audit trail: one JSON record per action, refused run read and refused token, on the
logger ``labcas_workflow_api.audit`` (``docs/audit.md`` lists every kind)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from labcas_workflow_api.domain.errors import ClientGone, LabcasError

log = logging.getLogger("labcas_workflow_api.audit")

# the one token check whose detail quotes the token (its header's algorithm)
_QUOTED_ALGORITHM = re.compile(r"^token algorithm .* is not accepted$", re.DOTALL)


def record(action: str, user: str | None, request_id: str, outcome: str, **fields: Any) -> None:
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
def audited(
    action: str, user: str, request_id: str, *, refusals_only: bool = False, **fields: Any
) -> Iterator[dict[str, Any]]:
    """Record the action's outcome with ``fields`` and what the block put in the yielded dict;
    with ``refusals_only``, only a refusal (reads that clients poll)."""
    details: dict[str, Any] = {}
    try:
        yield details
    except ClientGone:
        if not refusals_only:
            record(action, user, request_id, "client gone", **fields, **details)
        raise
    except LabcasError as exc:
        if exc.status < 500:
            outcome = f"refused {exc.status}"
        elif refusals_only:
            raise
        else:
            outcome = f"failed {exc.status}"
        record(action, user, request_id, outcome, detail=exc.detail, **fields, **details)
        raise
    except Exception:
        if not refusals_only:
            record(action, user, request_id, "error", **fields, **details)
        raise
    if not refusals_only:
        record(action, user, request_id, "ok", **fields, **details)


def auth_failed(request_id: str, reason: str, path: str, client: str | None) -> None:
    """A refused token: why (never any of the token itself), on which path, from where."""
    if _QUOTED_ALGORITHM.match(reason):
        reason = "token algorithm is not accepted"
    record("auth.failed", None, request_id, "refused 401", reason=reason, path=path, client=client)
