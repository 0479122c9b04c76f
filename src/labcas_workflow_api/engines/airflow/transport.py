"""How the engine reaches Airflow: Airflow 3's token, retries of reads, the connection limit."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Generator

import httpx

from labcas_workflow_api import deadline
from labcas_workflow_api.cache import Cached
from labcas_workflow_api.domain.errors import UpstreamBadResponse
from labcas_workflow_api.engines.airflow.mapping import answer

log = logging.getLogger(__name__)

#: Requests one process has open on Airflow at most; more wait for a connection (within the
#: timeout). Airflow's API server answers from a small database pool (5 + 10 by default), so
#: letting every request through at once only moves the queue there, where it times out.
MAX_CONNECTIONS = 10
RETRY_STATUSES = frozenset({502, 503, 504})
#: Airflow 3's ``reason`` for a 500 from its database (``SQLAlchemyErrorHandler`` in
#: ``api_fastapi/common/exceptions.py``), e.g. SQLite busy while the scheduler writes: transient.
DATABASE_ERROR = "Database error"
#: Bytes of a 500's body read at most to find ``DATABASE_ERROR`` (Airflow's is about 300).
MAX_ERROR_BODY = 16 * 1024
#: Seconds before the first retry, doubled before each next one.
BACKOFF = 0.2
#: The request extension that marks a request safe to send again: ``True`` after any
#: transient failure (reads, and writes that only set values), ``UNAPPLIED`` only when Airflow
#: certainly did not apply it (no connection was made, or its database refused the request).
RETRY = "labcas.retry"
UNAPPLIED = "unapplied"
#: Seconds a try needs at least to be worth making: with less left, the last answer stands.
MIN_TRY = 1.0
#: Airflow 3's ``detail`` for a token it cannot verify (``resolve_user_from_token`` in
#: ``api_fastapi/core_api/security.py``): signed with a key it no longer has, or revoked.
INVALID_TOKEN = "Invalid JWT token"  # noqa: S105 - an error message, not a secret
#: Seconds a token is renewed before its ``exp``; a token without a readable ``exp`` is kept
#: ``FALLBACK_TTL`` s.
LEEWAY = 60.0
FALLBACK_TTL = 300.0


def pooled_transport() -> httpx.HTTPTransport:
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    return httpx.HTTPTransport(limits=limits)


class RetryTransport(httpx.BaseTransport):
    """Sends a request marked ``RETRY`` up to ``retries`` more times, with exponential
    ``BACKOFF``, on a 502, 503 or 504, Airflow's 500 "Database error" or a connection error
    (``UNAPPLIED``: only on the database error or a failure to connect); not on a read
    timeout (the next try would wait as long). Each try's timeouts are cut to the
    time left before the request deadline, and a try is made again only when the pause and
    ``MIN_TRY`` are left."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.retries = retries
        self.sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        mode = request.extensions.get(RETRY)
        attempts = 1 + (self.retries if mode else 0)
        attempt = 1
        while True:
            request.extensions["timeout"] = fitted(request)
            pause = BACKOFF * 2 ** (attempt - 1)
            try:
                response = self.inner.handle_request(request)
            except httpx.TransportError as exc:
                if not self._again(exc, mode, attempt, attempts, pause):
                    raise
            else:
                if not self._again(response, mode, attempt, attempts, pause):
                    return response
                response.close()
            attempt += 1
            log.info(
                "retrying %s %s (attempt %d of %d)", request.method, request.url, attempt, attempts
            )
            self.sleep(pause)

    @staticmethod
    def _again(
        outcome: httpx.Response | httpx.TransportError,
        mode: object,
        attempt: int,
        attempts: int,
        pause: float,
    ) -> bool:
        if attempt >= attempts:
            return False
        if isinstance(outcome, httpx.Response):
            transient = mode is True and outcome.status_code in RETRY_STATUSES
            transient = transient or database_error(outcome)
        else:
            unsent = isinstance(outcome, httpx.ConnectError | httpx.ConnectTimeout)
            transient = unsent or (mode is True and not isinstance(outcome, httpx.TimeoutException))
        left = deadline.remaining()
        return transient and (left is None or left >= pause + MIN_TRY)

    def close(self) -> None:
        self.inner.close()


def database_error(response: httpx.Response) -> bool:
    """Whether ``response`` is Airflow 3's 500 for an error of its database (a body of unknown
    or larger size than ``MAX_ERROR_BODY`` is not read: it is not that answer)."""
    declared = response.headers.get("content-length", "")
    if response.status_code != 500 or not declared.isdigit() or int(declared) > MAX_ERROR_BODY:
        return False
    try:
        body = json.loads(response.read())
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("reason") == DATABASE_ERROR


def fitted(request: httpx.Request) -> dict[str, float | None]:
    """The request's ``timeout`` extension cut to the time left before the request deadline (if
    any); ``DeadlineExceeded`` when none is left. Cutting again as time passes gives the same
    as cutting the first values, so each try or call of a request cuts what it holds."""
    timeouts = dict(request.extensions.get("timeout") or {})
    if deadline.remaining() is None:
        return timeouts
    what = f"Airflow: {request.method} {request.url.path}"
    keys = ("connect", "read", "write", "pool")
    return {key: deadline.bounded(timeouts.get(key), what) for key in keys}


def credentials_refused(response: httpx.Response) -> bool:
    """Whether Airflow refused the request's credentials rather than the user's rights: a 401,
    or a 403 whose ``detail`` is ``Invalid JWT token``. A plain 403 (a permission) is not.
    Reads the body of a 403 only, so streamed answers stay streamed."""
    if response.status_code == 401:
        return True
    if response.status_code != 403:
        return False
    response.read()
    try:
        return bool(response.json().get("detail") == INVALID_TOKEN)
    except (ValueError, AttributeError):
        return False


class TokenAuth(httpx.Auth):
    """Airflow 3 tokens from ``login()``, cached until ``LEEWAY`` s before their ``exp``. A request
    whose token Airflow refuses (after its signing key changed: a 403, not a 401) is sent once
    more with a new token, else its answer returned; requests refused one token at once renew
    it once (``Cached.invalidate(stale)``). ``requires_response_body`` stays off, or every
    streamed task log would be read whole first."""

    def __init__(self, login: Callable[[], httpx.Response]) -> None:
        self._login = login
        self._token = Cached(
            self._fetch, self._lifetime, serve_stale=False, name="Airflow token", clock=time.time
        )

    def token(self) -> str:
        """The cached token, logging in first when there is none (our errors if that fails)."""
        return self._token.get()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token.get()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if credentials_refused(response):
            log.info("Airflow refused the token (%d); renewing it", response.status_code)
            self._token.invalidate(token)
            request.headers["Authorization"] = f"Bearer {self._token.get()}"
            yield request

    def _lifetime(self, token: str) -> float:
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            return float(claims["exp"]) - LEEWAY - time.time()
        except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
            return FALLBACK_TTL

    def _fetch(self) -> str:
        response = self._login()
        if response.status_code in (401, 403):
            raise UpstreamBadResponse(
                "Airflow refused the engine credentials "
                "(LABCAS_ENGINE_USERNAME / LABCAS_ENGINE_PASSWORD)"
            )
        body = answer(response, "token")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise UpstreamBadResponse("Airflow token answer has no access_token")
        return token
