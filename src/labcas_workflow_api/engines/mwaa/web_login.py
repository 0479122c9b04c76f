"""The ``mwaa-web-login`` transport: the environment's web server with a web-login session."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx

from labcas_workflow_api.cache import FOREVER, Cached
from labcas_workflow_api.domain.errors import UpstreamBadResponse
from labcas_workflow_api.engines.airflow.auth import credentials_refused
from labcas_workflow_api.engines.airflow.transport import fitted, pooled_transport
from labcas_workflow_api.engines.mwaa.environment import MwaaEnvironment, aws_call

log = logging.getLogger(__name__)


class WebLoginTransport(httpx.BaseTransport):
    """Sends each request to ``<scheme>://<WebServerHostname>`` with a web-login session cookie
    (``CreateWebLoginToken``, then ``POST /aws_mwaa/login`` with the form field ``token``).

    A request whose session Airflow refuses (401, 403 ``Invalid JWT token`` or a redirect to a
    login page; a plain 403 is a permission) logs in again once (once for all the requests
    refused that session: ``Cached.invalidate(stale)``) and is sent again; refused again, it
    raises ``UpstreamBadResponse``. Each call's timeouts are cut to the request deadline."""

    def __init__(
        self,
        environment: MwaaEnvironment,
        *,
        scheme: str = "https",
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self.environment = environment
        self.scheme = scheme
        self._inner = inner or pooled_transport()
        self._cookie = Cached(self._login, FOREVER, serve_stale=False, name="MWAA web session")
        self._origin: httpx.URL | None = None
        self._request: httpx.Request | None = None
        self.logins = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        cookie = self._session(request)
        response = self._forward(request, cookie)
        if not _refused(response):
            return response
        response.close()
        log.info("MWAA web server refused the session (%s); logging in again", response.status_code)
        cookie = self._session(request, stale=cookie)
        response = self._forward(request, cookie)
        if _refused(response):
            response.close()
            raise UpstreamBadResponse(
                f"the MWAA web server refused a fresh web-login session ({response.status_code} "
                f"on {request.method} {request.url.path}); the role's Airflow permissions?"
            )
        return response

    def close(self) -> None:
        self._inner.close()

    def _forward(self, request: httpx.Request, cookie: str) -> httpx.Response:
        assert self._origin is not None
        url = request.url.copy_with(
            scheme=self._origin.scheme, host=self._origin.host, port=self._origin.port
        )
        headers = [
            (k, v)
            for k, v in request.headers.multi_items()
            if k.lower() not in ("host", "cookie")  # the client's jar: ours is the session's
        ]
        headers.append(("Cookie", cookie))
        forwarded = httpx.Request(
            request.method,
            url,
            headers=headers,
            content=request.content,
            extensions={**request.extensions, "timeout": _fitted(request)},
        )
        return self._inner.handle_request(forwarded)

    def _session(self, request: httpx.Request, *, stale: str | None = None) -> str:
        if stale is not None:
            self._cookie.invalidate(stale)
        self._request = request
        return self._cookie.get()

    def _login(self) -> str:
        request = self._request
        assert request is not None
        token = aws_call(self.environment, "CreateWebLoginToken", "create_web_login_token")
        host, web_token = token.get("WebServerHostname"), token.get("WebToken")
        if not isinstance(host, str) or not host or not isinstance(web_token, str):
            raise UpstreamBadResponse("MWAA CreateWebLoginToken answer lacks a host or token")
        self._origin = httpx.URL(f"{self.scheme}://{host}")
        login = httpx.Request(
            "POST",
            self._origin.join("/aws_mwaa/login"),
            data={"token": web_token},
            extensions={"timeout": _fitted(request)},
        )
        response = self._inner.handle_request(login)
        try:
            response.read()
        finally:
            response.close()
        response.request = login
        if response.status_code >= 400:
            raise UpstreamBadResponse(
                f"the MWAA web server refused the web login token ({response.status_code})"
            )
        cookies = httpx.Cookies()
        cookies.extract_cookies(response)
        pairs = [f"{c.name}={c.value}" for c in cookies.jar if c.value is not None]
        if not pairs:
            raise UpstreamBadResponse(
                f"the MWAA web login set no session cookie ({response.status_code})"
            )
        self.logins += 1
        log.info("logged in to the MWAA web server %s (login %d)", host, self.logins)
        return "; ".join(pairs)


def _fitted(request: httpx.Request) -> dict[str, float | None]:
    """The request's timeouts cut to its deadline, for each call it takes here (login, retry)."""
    return fitted(dict(request.extensions.get("timeout") or {}), request)


def _refused(response: httpx.Response) -> bool:
    if response.is_redirect:
        return "login" in urlsplit(response.headers.get("Location", "")).path
    return credentials_refused(response)
