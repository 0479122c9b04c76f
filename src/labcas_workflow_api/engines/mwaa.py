"""MWAA adapters of the ``WorkflowEngine`` port: Airflow's REST API reached through AWS.

``mwaa``: every call goes through boto3's ``mwaa.invoke_rest_api`` (IAM-authorised, no
Airflow credentials). ``mwaa-web-login``: the older way, for roles that may not call
``InvokeRestApi``: ``create_web_login_token``, then the web server's ``/aws_mwaa/login`` for a
session cookie, kept until Airflow stops accepting it, then the REST API over HTTPS with it.

Both are the ``AirflowEngine`` over an httpx transport that carries each request its own way,
so the Airflow dialects build every request and parse every answer. The API version (``v1``
for Airflow 2, ``v2`` for Airflow 3) comes from the environment's ``AirflowVersion``
(``GetEnvironment``), asked on first use, unless ``api_version`` forces it.
"""

from __future__ import annotations

import ast
import json
import logging
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from labcas_workflow_api.cache import FOREVER, Cached
from labcas_workflow_api.domain.errors import (
    ConfigError,
    LabcasError,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.engines.airflow import AirflowEngine, Dialect, NoAuth, dialect_for

log = logging.getLogger(__name__)

#: The longest ``Path`` that ``InvokeRestApi`` takes (``RestApiPath`` in the service model).
MAX_PATH = 64
THROTTLING = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"}
)
_API_PREFIXES = ("/api/v1", "/api/v2")


def mwaa_client(region: str | None = None, *, timeout: float = 10.0) -> Any:
    """A boto3 MWAA client with bounded timeouts and standard retries (throttling included)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    config = Config(
        connect_timeout=min(timeout, 5.0),
        read_timeout=timeout,
        retries={"mode": "standard", "max_attempts": 3},
    )
    try:
        return boto3.client("mwaa", region_name=region or None, config=config)
    except NoRegionError as exc:
        raise ConfigError("AWS_REGION: set the region of the MWAA environment") from exc


class MwaaEnvironment:
    """One MWAA environment: its name, and what ``GetEnvironment`` says, asked once."""

    def __init__(self, client: Any, name: str, *, api_version: str = "") -> None:
        if not name:
            raise ConfigError("LABCAS_MWAA_ENV_NAME must name the MWAA environment")
        if api_version:
            dialect_for(api_version)  # ConfigError for an unknown version, at once
        self.client = client
        self.name = name
        self.api_version = api_version
        self._environment = Cached(self._read, FOREVER, name="MWAA environment")

    def describe(self) -> dict[str, Any]:
        """The ``Environment`` of ``GetEnvironment`` (cached once it has been read)."""
        return self._environment.get()

    def _read(self) -> dict[str, Any]:
        answer = aws_call(self, "GetEnvironment", self.client.get_environment)
        environment = answer.get("Environment")
        if not isinstance(environment, dict):
            raise UpstreamBadResponse("MWAA GetEnvironment answer has no Environment")
        return environment

    def dialect(self, *, max_path: int | None = None) -> Dialect:
        """The REST API dialect: forced by ``api_version``, else by the Airflow version."""
        version = self.api_version
        if not version:
            try:
                airflow_version = str(self.describe().get("AirflowVersion") or "")
            except UpstreamBadResponse as exc:
                raise ConfigError(
                    f"LABCAS_MWAA_API: set v1 or v2, the environment's Airflow version cannot "
                    f"be read ({exc.detail})"
                ) from exc
            major = airflow_version.split(".", 1)[0]
            if not major.isdigit():
                raise UpstreamBadResponse(
                    f"MWAA reports an unreadable Airflow version {airflow_version!r}"
                )
            version = "v2" if int(major) >= 3 else "v1"
            log.info("MWAA environment %s runs Airflow %s: API %s", self.name, major, version)
        return replace(dialect_for(version), max_path=max_path)


def aws_call(environment: MwaaEnvironment, operation: str, method: Any, **kwargs: Any) -> Any:
    """``method(Name=environment.name, **kwargs)`` with AWS failures mapped to our errors."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ReadTimeoutError,
    )

    name = environment.name
    try:
        return method(Name=name, **kwargs)
    except ClientError as exc:
        raise client_error(exc, operation, name) from exc
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        raise UpstreamUnavailable(f"cannot reach MWAA ({operation}): {exc}") from exc
    except ReadTimeoutError as exc:
        raise UpstreamTimeout(f"MWAA did not answer {operation} in time") from exc
    except (NoCredentialsError, NoRegionError) as exc:
        raise ConfigError(f"AWS_REGION / AWS credentials for MWAA ({operation}): {exc}") from exc
    except BotoCoreError as exc:
        raise UpstreamUnavailable(f"MWAA call {operation} failed: {exc}") from exc


def client_error(exc: Any, operation: str, name: str) -> LabcasError:
    """Our error for an AWS error answer that carries no Airflow answer."""
    error = exc.response.get("Error") or {}
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    if code == "ResourceNotFoundException":
        return ConfigError(f"LABCAS_MWAA_ENV_NAME: no MWAA environment {name!r} ({message})")
    if code in THROTTLING or status == 429:
        return UpstreamUnavailable(f"MWAA throttled {operation}; try again later")
    if code == "AccessDeniedException":
        return UpstreamBadResponse(
            f"AWS denied {operation} on MWAA environment {name!r} (IAM permission "
            f"airflow:{operation}?): {message}"
        )
    if status >= 500:
        return UpstreamUnavailable(f"MWAA failed {operation} ({code or status}): {message}")
    return UpstreamBadResponse(f"MWAA refused {operation} ({code or status}): {message}")


class InvokeRestApiTransport(httpx.BaseTransport):
    """An httpx transport sending each Airflow REST request through ``InvokeRestApi``.

    The request's path after ``/api/v1`` or ``/api/v2`` becomes ``Path``, its query
    ``QueryParameters`` (a repeated key a list), its JSON body ``Body``. The answer becomes an
    httpx response with Airflow's status and JSON body, whether AWS returned it or raised it as
    ``RestApiClientException`` (Airflow's 4xx). ``RestApiServerException`` becomes Airflow's
    5xx (502 if it reports none), throttling a 503 (both retried by the engine for reads),
    connection failures httpx's own errors; the other AWS errors raise our errors.
    """

    def __init__(self, environment: MwaaEnvironment) -> None:
        self.environment = environment

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        path = _api_path(request)
        kwargs: dict[str, Any] = {"Path": path, "Method": request.method}
        query = _query(request)
        if query:
            kwargs["QueryParameters"] = query
        if request.content:
            try:
                kwargs["Body"] = json.loads(request.content)
            except ValueError as exc:
                raise UpstreamBadResponse("InvokeRestApi takes JSON bodies only") from exc
        method = self.environment.client.invoke_rest_api
        try:
            answer = method(Name=self.environment.name, **kwargs)
        except ClientError as exc:
            return self._error_response(exc, request, path)
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise httpx.ConnectError(f"cannot reach MWAA: {exc}", request=request) from exc
        except ReadTimeoutError as exc:
            raise httpx.ReadTimeout(f"MWAA did not answer: {exc}", request=request) from exc
        status = answer.get("RestApiStatusCode")
        if not isinstance(status, int):
            raise UpstreamBadResponse("MWAA InvokeRestApi answer has no RestApiStatusCode")
        return _response(status, answer.get("RestApiResponse"), request)

    def _error_response(self, exc: Any, request: httpx.Request, path: str) -> httpx.Response:
        code = str((exc.response.get("Error") or {}).get("Code", ""))
        status = exc.response.get("RestApiStatusCode")
        body = exc.response.get("RestApiResponse")
        if code == "RestApiClientException":
            return _response(status if isinstance(status, int) else 400, body, request)
        if code == "RestApiServerException":
            server = status if isinstance(status, int) and status >= 500 else 502
            return _response(server, body, request)
        if code in THROTTLING or code == "InternalServerException":
            detail = f"MWAA answered {code}"
            return _response(503 if code in THROTTLING else 502, {"detail": detail}, request)
        if code == "ValidationException" and len(path) > MAX_PATH:
            raise UpstreamBadResponse(
                f"MWAA InvokeRestApi takes paths of at most {MAX_PATH} characters; "
                f"{request.method} {path} has {len(path)} (LABCAS_ENGINE=mwaa-web-login has no "
                "such limit)"
            ) from exc
        raise client_error(exc, "InvokeRestApi", self.environment.name) from exc


def _api_path(request: httpx.Request) -> str:
    path = request.url.raw_path.decode("ascii").split("?", 1)[0]
    for prefix in _API_PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    raise UpstreamBadResponse(f"not an Airflow REST API path: {path}")


def _query(request: httpx.Request) -> dict[str, str | list[str]]:
    query: dict[str, str | list[str]] = {}
    for key, value in request.url.params.multi_items():
        previous = query.get(key)
        if previous is None:
            query[key] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            query[key] = [previous, value]
    return query


def _response(status: int, body: Any, request: httpx.Request) -> httpx.Response:
    """An httpx response with Airflow's JSON answer, or the log text the request asked for."""
    accept = request.headers.get("Accept", "")
    if isinstance(body, dict) and 200 <= status < 300 and "content" in body:
        if accept == "text/plain":
            return httpx.Response(status, text=_log_text(body["content"]), request=request)
        if accept == "application/x-ndjson" and isinstance(body["content"], list):
            lines = "".join(json.dumps(record) + "\n" for record in body["content"])
            return httpx.Response(status, text=lines, request=request)
    if body is None:
        return httpx.Response(status, request=request)
    return httpx.Response(status, json=body, request=request)


def _log_text(content: Any) -> str:
    """Airflow 2's JSON log ``content``: the ``repr`` of ``[(host, text), ...]``, or text."""
    if not isinstance(content, str):
        return json.dumps(content)
    try:
        parts = ast.literal_eval(content)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return content
    if isinstance(parts, list) and all(isinstance(p, tuple) and len(p) == 2 for p in parts):
        return "".join(str(text) for _, text in parts)
    return content


class WebLoginTransport(httpx.BaseTransport):
    """An httpx transport to the environment's web server with a web-login session cookie.

    The first request logs in (``CreateWebLoginToken``, then ``POST /aws_mwaa/login`` with
    the form field ``token``) and keeps the cookies it sets. A request that Airflow refuses
    (401, 403, or a redirect to a login page) logs in again once and is sent again; refused
    again, it raises ``UpstreamBadResponse``. Requests are rewritten from the engine's
    placeholder origin to ``<scheme>://<WebServerHostname>``.
    """

    def __init__(
        self,
        environment: MwaaEnvironment,
        *,
        scheme: str = "https",
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self.environment = environment
        self.scheme = scheme
        self._inner = inner or httpx.HTTPTransport()
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
            extensions=request.extensions,
        )
        return self._inner.handle_request(forwarded)

    def _session(self, request: httpx.Request, *, stale: str | None = None) -> str:
        """The session cookie; a new one when ``stale`` (the one just refused) is still held."""
        if stale is not None:
            self._cookie.invalidate(stale)
        self._request = request
        return self._cookie.get()

    def _login(self) -> str:
        request = self._request
        assert request is not None
        create = self.environment.client.create_web_login_token
        token = aws_call(self.environment, "CreateWebLoginToken", create)
        host, web_token = token.get("WebServerHostname"), token.get("WebToken")
        if not isinstance(host, str) or not host or not isinstance(web_token, str):
            raise UpstreamBadResponse("MWAA CreateWebLoginToken answer lacks a host or token")
        self._origin = httpx.URL(f"{self.scheme}://{host}")
        login = httpx.Request(
            "POST",
            self._origin.join("/aws_mwaa/login"),
            data={"token": web_token},
            extensions={k: v for k, v in request.extensions.items() if k == "timeout"},
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


def _refused(response: httpx.Response) -> bool:
    if response.status_code in (401, 403):
        return True
    if response.is_redirect:
        location = urlsplit(response.headers.get("Location", "")).path
        return "login" in location
    return False


def _environment(
    name: str, client: Any, region: str | None, api_version: str, timeout: float
) -> MwaaEnvironment:
    if not name:  # before the client: a missing region is the lesser news
        raise ConfigError("LABCAS_MWAA_ENV_NAME must name the MWAA environment")
    return MwaaEnvironment(
        client or mwaa_client(region, timeout=timeout), name, api_version=api_version
    )


def mwaa_engine(
    env_name: str,
    *,
    client: Any = None,
    region: str | None = None,
    api_version: str = "",
    timeout: float = 10.0,
    **engine_options: Any,
) -> AirflowEngine:
    """The ``mwaa`` engine: the Airflow REST API through ``InvokeRestApi``."""
    environment = _environment(env_name, client, region, api_version, timeout)
    return AirflowEngine(
        f"mwaa://{env_name}",
        "",
        "",
        transport=InvokeRestApiTransport(environment),
        dialect=lambda: environment.dialect(max_path=MAX_PATH),
        auth=NoAuth(),
        timeout=timeout,
        **engine_options,
    )


def mwaa_web_login_engine(
    env_name: str,
    *,
    client: Any = None,
    region: str | None = None,
    api_version: str = "",
    timeout: float = 10.0,
    scheme: str = "https",
    inner: httpx.BaseTransport | None = None,
    **engine_options: Any,
) -> AirflowEngine:
    """The ``mwaa-web-login`` engine: the web server's REST API with a web-login session."""
    environment = _environment(env_name, client, region, api_version, timeout)
    return AirflowEngine(
        f"mwaa://{env_name}",
        "",
        "",
        transport=WebLoginTransport(environment, scheme=scheme, inner=inner),
        dialect=environment.dialect,
        auth=NoAuth(),
        timeout=timeout,
        **engine_options,
    )
