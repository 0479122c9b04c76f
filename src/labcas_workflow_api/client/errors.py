"""``ClientError``, and how an error answer becomes one."""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """A call failed: the API answered an error (``status`` and the problem+json body) or could
    not be reached (``status`` None). ``str()`` is one readable line."""

    def __init__(
        self, message: str, *, status: int | None = None, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem or {}

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self)


def raise_for_error(response: httpx.Response) -> None:
    """Raise a ClientError for an error answer (its body read first if it is streamed)."""
    status = response.status_code
    if status < 400:
        return
    response.read()
    try:
        body = response.json()
    except ValueError:
        body = None
    problem: dict[str, Any] = body if isinstance(body, dict) else {}
    detail = problem.get("detail")
    title = problem.get("title") or response.reason_phrase or "error"
    if not detail:
        text = response.text.strip().splitlines()
        detail = text[0][:200] if text and not text[0].lstrip().startswith("<") else ""
    message = f"{status} {title}: {detail}" if detail else f"{status} {title}"
    raise ClientError(" ".join(message.split()), status=status, problem=problem)
