"""How ``LabcasClient`` talks to the API: one httpx client, the bearer token, errors as
``ClientError`` with the problem+json body, answers parsed with the wire models, and
``next`` links followed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urljoin

import httpx
from pydantic import BaseModel, ValidationError

from labcas_workflow_api import wire

USER_AGENT = "labcas-workflows/0.1"
_MAX_PAGES = 10_000
M = TypeVar("M", bound=BaseModel)
Paged = TypeVar("Paged", wire.RunList, wire.Folder)


class ClientError(Exception):
    """A call failed: the API answered an error (``status`` and the problem+json body) or could
    not be reached (``status`` None). ``str()`` is one readable line."""

    def __init__(
        self, message: str, *, status: int | None = None, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.problem = problem or {}

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.message)


def error_from(response: httpx.Response) -> ClientError:
    status = response.status_code
    problem: dict[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict):
            problem = body
    except ValueError:
        pass
    detail = problem.get("detail")
    title = problem.get("title") or response.reason_phrase or "error"
    if not detail:
        text = response.text.strip().splitlines()
        detail = text[0][:200] if text and not text[0].lstrip().startswith("<") else ""
    message = f"{status} {title}: {detail}" if detail else f"{status} {title}"
    return ClientError(" ".join(message.split()), status=status, problem=problem)


def segment(value: str) -> str:
    return quote(value, safe="")


class Transport:
    """Requests to the API at ``api_url`` with ``token`` as ``Authorization: Bearer``; every
    method raises ``ClientError`` on an error answer or when the API cannot be reached."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.http = http or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=True
        )
        self._owns_http = http is None

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.api_url + path

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self.headers(kwargs.pop("headers", None))
        try:
            response = self.http.request(method, self.url(path), headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise ClientError(f"the API at {self.api_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the API at {self.api_url}: {exc}") from None
        if response.status_code >= 400:
            raise error_from(response)
        return response

    def get(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        """The answer to ``method path`` as ``model``."""
        response = self.send(method, path, **kwargs)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in error["loc"]) or "answer"
            raise ClientError(
                f"unexpected answer to {method} {path}: {where}: {error['msg']}",
                status=response.status_code,
            ) from None

    def pages(self, model: type[Paged], path: str, params: dict[str, Any]) -> Iterator[Paged]:
        """Each page of a listing, following ``next`` links until the end."""
        page = self.get(model, "GET", path, params=params)
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            yield page
            if not page.next or page.next in seen:
                return
            seen.add(page.next)
            page = self.get(model, "GET", urljoin(self.api_url + "/", page.next))
