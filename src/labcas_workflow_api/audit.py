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
    outcome: str | None = None  # None: a BaseException (the task was cancelled), not recorded
    error: dict[str, str] = {}
    try:
        yield details
        outcome = "ok"
    except ClientGone:
        outcome = "client gone"
        raise
    except LabcasError as exc:
        outcome = f"{'refused' if exc.status < 500 else 'failed'} {exc.status}"
        error = {"detail": exc.detail}
        raise
    except Exception:
        outcome = "error"
        raise
    finally:
        if outcome and (not refusals_only or outcome.startswith("refused")):
            record(action, user, request_id, outcome, **error, **fields, **details)


def auth_failed(request_id: str, reason: str, path: str, client: str | None) -> None:
    """A refused token: why (never any of the token itself), on which path, from where."""
    if _QUOTED_ALGORITHM.match(reason):
        reason = "token algorithm is not accepted"
    record("auth.failed", None, request_id, "refused 401", reason=reason, path=path, client=client)
