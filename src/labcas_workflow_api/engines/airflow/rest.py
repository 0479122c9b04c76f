"""``AirflowRest``: requests to Airflow's stable REST API, its listings page by page, its transport
failures as our errors."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from typing import Any, Self

import httpx

from labcas_workflow_api import deadline
from labcas_workflow_api.domain.errors import (
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.engines.airflow import mapping as to
from labcas_workflow_api.engines.airflow.dialects import (
    Dialect,
    Params,
    dialect_for,
)
from labcas_workflow_api.engines.airflow.transport import (
    RETRY,
    RetryTransport,
    TokenAuth,
    pooled_transport,
)

#: Batch listings (``POST .../list``) take any page size; Airflow 2 caps GET pages at 100.
BATCH_PAGE_SIZE = 1000
_MAX_PAGES = 10_000


class AirflowRest:
    """The Airflow REST API: ``api_version="v2"`` (Airflow 3, JWT) or ``"v1"`` (Airflow 2, basic
    auth). Reads are retried (``RetryTransport``), a refused token renewed once (``TokenAuth``);
    transport failures are ``UpstreamUnavailable`` or ``UpstreamTimeout``. ``dialect`` (or a
    function giving one on first use), ``auth`` and ``transport`` replace what ``api_version``,
    the credentials and plain HTTP give (MWAA)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 10.0,
        api_version: str = "v2",
        retries: int = 2,
        page_size: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        batch_page_size: int = BATCH_PAGE_SIZE,
        dialect: Dialect | Callable[[], Dialect] | None = None,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._dialect = dialect or dialect_for(api_version)
        retrying = RetryTransport(transport or pooled_transport(), retries=retries, sleep=sleep)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), transport=retrying
        )
        self._page_size = page_size
        self._batch_page_size = batch_page_size
        if auth is None:
            if isinstance(self._dialect, Dialect) and self._dialect.credentials == "basic":
                auth = httpx.BasicAuth(username, password)
            else:
                credentials = {"username": username, "password": password}
                auth = TokenAuth(
                    lambda: self._request(
                        "POST", "/auth/token", api=False, auth=False, json=credentials, retry=True
                    )
                )
        self._auth = auth

    @functools.cached_property
    def dialect(self) -> Dialect:
        """The REST API dialect (asked on first use when it was given as a function)."""
        return self._dialect() if callable(self._dialect) else self._dialect

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _items(
        self,
        path: str,
        key: str,
        *,
        query: Params | None = None,
        body: dict[str, Any] | None = None,
        what: str = "list",
    ) -> Iterator[dict[str, Any]]:
        """Every item of a listing, page by page: ``GET path`` with ``limit`` and ``offset``, or,
        given a ``body``, ``POST path`` with ``page_limit`` and ``page_offset`` in it."""
        offset = 0
        for _ in range(_MAX_PAGES):
            if body is None:
                page: Params = {**(query or {}), "limit": self._page_size, "offset": offset}
                response = self._request("GET", path, params=page, retry=True)
            else:
                batch = {**body, "page_offset": offset, "page_limit": self._batch_page_size}
                response = self._request("POST", path, json=batch, retry=True)
            listing = to.mapping(to.answer(response, what), "list")
            items = listing.get(key)
            if not isinstance(items, list):
                raise UpstreamBadResponse(f"Airflow list answer has no {key!r} list")
            for item in items:
                yield to.mapping(item, key)
            offset += len(items)
            total = listing.get("total_entries")
            if not items or not isinstance(total, int) or offset >= total:
                return
        raise UpstreamBadResponse(f"Airflow listing of {path} does not end")

    def _get(self, path: str, *, what: str, auth: bool = True) -> Any:
        return to.answer(self._request("GET", path, retry=True, auth=auth), what)

    def _request(
        self,
        method: str,
        path: str,
        *,
        api: bool = True,
        auth: bool = True,
        retry: bool | str = False,
        stream: bool = False,
        **options: Any,
    ) -> httpx.Response:
        """``method`` on ``path`` of the REST API (of the server unless ``api``); ``retry``: the
        ``RetryTransport`` may send it again (``UNAPPLIED``: only when Airflow did not apply
        it); ``stream``: the caller reads and closes it."""
        url = f"{self.base_url}{self.dialect.prefix if api else ''}{path}"
        request = self._http.build_request(method, url, extensions={RETRY: retry}, **options)
        try:
            return self._http.send(request, auth=self._auth if auth else None, stream=stream)
        except httpx.TransportError as exc:
            if deadline.expired():
                raise deadline.exceeded(f"Airflow: {method} {request.url.path}") from exc
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                raise UpstreamUnavailable(
                    f"cannot reach Airflow at {self.base_url}: {exc}"
                ) from exc
            if isinstance(exc, httpx.TimeoutException):
                raise UpstreamTimeout(f"Airflow did not answer in time ({method} {url})") from exc
            raise UpstreamUnavailable(f"connection to Airflow failed: {exc}") from exc
