"""``ClientError``, and how an error answer of the API becomes one."""

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


def error_from(response: httpx.Response) -> ClientError:
    status = response.status_code
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
    return ClientError(" ".join(message.split()), status=status, problem=problem)
