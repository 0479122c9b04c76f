"""MWAA adapters of the ``WorkflowEngine`` port: the ``AirflowEngine`` over AWS transports."""

from __future__ import annotations

import ast
import functools
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from labcas_workflow_api import deadline
from labcas_workflow_api.cache import FOREVER, Cached
from labcas_workflow_api.deadline import BoundedClients
from labcas_workflow_api.domain.errors import (
    ConfigError,
    LabcasError,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.engines.airflow import AirflowEngine
from labcas_workflow_api.engines.airflow.dialects import Dialect, dialect_for
from labcas_workflow_api.engines.airflow.transport import (
    credentials_refused,
    fitted,
    pooled_transport,
)

log = logging.getLogger(__name__)

THROTTLING = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"}
)
#: botocore attempts of an MWAA call (``standard`` mode: throttling and connection errors)
MWAA_ATTEMPTS = 3
#: The longest ``Path`` that ``InvokeRestApi`` takes (``RestApiPath`` in the service model).
MAX_PATH = 64


def mwaa_engine(
    env_name: str,
    *,
    client: Any = None,
    make_client: Callable[[Any], Any] | None = None,
    region: str | None = None,
    api_version: str = "",
    timeout: float = 10.0,
    scheme: str = "https",
    inner: httpx.BaseTransport | None = None,
    web_login_only: bool = False,
    **engine_options: Any,
) -> AirflowEngine:
    """The ``mwaa`` engine: the Airflow REST API through ``InvokeRestApi`` (IAM-authorised), and
    paths too long for it through the web server with a web-login session, at
    ``<scheme>://<WebServerHostname>`` over ``inner`` (plain HTTP unless given); with
    ``web_login_only``, every call goes that way (``mwaa_web_login_engine``). The API version
    comes from the environment's ``AirflowVersion`` (asked on first use) unless ``api_version``
    forces it. boto3 clients: ``client`` when given, used for every call as it is (a stub);
    else built by ``make_client(config)`` (default: ``boto3.client("mwaa")`` in ``region``)
    with a ``timeout`` s read timeout (connect: at most 5 s) and ``MWAA_ATTEMPTS`` attempts, or
    as much of that as the request deadline leaves."""
    if not env_name:  # before the client: a missing region is the lesser news
        raise ConfigError("LABCAS_MWAA_ENV_NAME must name the MWAA environment")
    if client is not None:
        clients = BoundedClients.fixed(client, name="MWAA")
    else:
        make = make_client or functools.partial(_boto3_mwaa, region)
        clients = BoundedClients(
            make, connect=min(timeout, 5.0), read=timeout, attempts=MWAA_ATTEMPTS, name="MWAA"
        )
        clients.configured()  # now: a missing region is a ConfigError here, not at the first call
    environment = MwaaEnvironment(clients, env_name, api_version=api_version)
    transport: httpx.BaseTransport = WebLoginTransport(environment, scheme=scheme, inner=inner)
    dialect = environment.dialect
    if not web_login_only:
        transport = InvokeRestApiTransport(environment, long_paths=transport)
        dialect = functools.partial(environment.dialect, max_path=MAX_PATH)
    return AirflowEngine(
        f"mwaa://{env_name}",
        "",
        "",
        transport=transport,
        dialect=dialect,
        auth=httpx.Auth(),  # none: the transport authenticates
        timeout=timeout,
        **engine_options,
    )


def mwaa_web_login_engine(env_name: str, **options: Any) -> AirflowEngine:
    """The ``mwaa-web-login`` engine, for roles that may not call ``InvokeRestApi``: every call
    through the web server with a web-login session; options as for ``mwaa_engine``."""
    return mwaa_engine(env_name, web_login_only=True, **options)


def _boto3_mwaa(region: str | None, config: Any) -> Any:
    import boto3
    from botocore.exceptions import NoRegionError

    try:
        return boto3.client("mwaa", region_name=region or None, config=config)
    except NoRegionError as exc:
        raise ConfigError("AWS_REGION: set the region of the MWAA environment") from exc


class MwaaEnvironment:
    """One MWAA environment: its name, its clients, and what ``GetEnvironment`` says (asked
    once); ``ConfigError`` for an unknown ``api_version``."""

    def __init__(self, clients: BoundedClients, name: str, *, api_version: str = "") -> None:
        if api_version:
            dialect_for(api_version)  # ConfigError for an unknown version, at once
        self.clients = clients
        self.name = name
        self.api_version = api_version
        self._environment = Cached(self._read, FOREVER, name="MWAA environment")

    def _read(self) -> dict[str, Any]:
        answer = self.call("GetEnvironment")
        environment = answer.get("Environment")
        if not isinstance(environment, dict):
            raise UpstreamBadResponse("MWAA GetEnvironment answer has no Environment")
        return environment

    def call(self, operation: str) -> Any:
        """``operation(Name=...)`` by a client fitting the request deadline; our errors."""
        from botocore import exceptions as aws
        from botocore import xform_name

        call = getattr(self.clients.get(), xform_name(operation))
        try:
            return call(Name=self.name)
        except aws.ClientError as exc:
            raise client_error(exc, operation, self.name) from exc
        except (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ReadTimeoutError) as exc:
            if deadline.expired():
                raise deadline.exceeded(f"MWAA {operation}") from exc
            if isinstance(exc, aws.ReadTimeoutError):
                raise UpstreamTimeout(f"MWAA did not answer {operation} in time") from exc
            raise UpstreamUnavailable(f"cannot reach MWAA ({operation}): {exc}") from exc
        except (aws.NoCredentialsError, aws.NoRegionError) as exc:
            raise ConfigError(
                f"AWS_REGION / AWS credentials for MWAA ({operation}): {exc}"
            ) from exc
        except aws.BotoCoreError as exc:
            raise UpstreamUnavailable(f"MWAA call {operation} failed: {exc}") from exc

    def dialect(self, *, max_path: int | None = None) -> Dialect:
        """The REST API dialect: forced by ``api_version``, else by the Airflow version."""
        version = self.api_version
        if not version:
            try:
                airflow_version = str(self._environment.get().get("AirflowVersion") or "")
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


def client_error(exc: Any, operation: str, name: str) -> LabcasError:
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
    """Sends each Airflow REST request through ``InvokeRestApi``, with the client that fits the
    request deadline; a ``Path`` longer than ``MAX_PATH`` (a task log, a cancel) goes to
    ``long_paths`` (the web-login transport) instead. Airflow's answer becomes the response
    whether AWS returned it or raised it (``RestApiClientException``: its 4xx;
    ``RestApiServerException``: its 5xx, 502 if none); throttling becomes a 503, connection
    failures httpx's errors, other AWS errors ours. AWS calls Airflow with credentials of its
    own: a refusal is passed on, nothing to renew."""

    def __init__(self, environment: MwaaEnvironment, *, long_paths: httpx.BaseTransport) -> None:
        self.environment = environment
        self.long_paths = long_paths

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        from botocore import exceptions as aws

        # The quoted path after the engine's prefix, "/api/v1" or "/api/v2".
        path = request.url.raw_path.decode("ascii").split("?", 1)[0][len("/api/v2") :]
        if len(path) > MAX_PATH:
            return self.long_paths.handle_request(request)
        kwargs: dict[str, Any] = {"Path": path, "Method": request.method}
        query = query_parameters(request)
        if query:
            kwargs["QueryParameters"] = query
        if request.content:  # the engine sends JSON bodies only
            kwargs["Body"] = json.loads(request.content)
        method = self.environment.clients.get().invoke_rest_api
        try:
            answer = method(Name=self.environment.name, **kwargs)
        except aws.ClientError as exc:
            return self._error_response(exc, request)
        except (aws.EndpointConnectionError, aws.ConnectTimeoutError) as exc:
            raise httpx.ConnectError(f"cannot reach MWAA: {exc}", request=request) from exc
        except aws.ReadTimeoutError as exc:
            raise httpx.ReadTimeout(f"MWAA did not answer: {exc}", request=request) from exc
        status = answer.get("RestApiStatusCode")
        if not isinstance(status, int):
            raise UpstreamBadResponse("MWAA InvokeRestApi answer has no RestApiStatusCode")
        return _response(status, answer.get("RestApiResponse"), request)

    def close(self) -> None:
        self.long_paths.close()

    def _error_response(self, exc: Any, request: httpx.Request) -> httpx.Response:
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
        raise client_error(exc, "InvokeRestApi", self.environment.name) from exc


def query_parameters(request: httpx.Request) -> dict[str, str | list[str]]:
    """The request's query as ``QueryParameters``: a repeated key becomes a list."""
    query: dict[str, str | list[str]] = {}
    for key in request.url.params:
        values = request.url.params.get_list(key)
        query[key] = values[0] if len(values) == 1 else values
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
    """Sends each request to ``<scheme>://<WebServerHostname>`` with a web-login session cookie
    (``CreateWebLoginToken``, then ``POST /aws_mwaa/login`` with the form field ``token``). A
    request whose session Airflow refuses (401, 403 ``Invalid JWT token`` or a redirect to a
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
        self._request = request  # for a login: its timeouts
        cookie = self._cookie.get()
        response = self._forward(request, cookie)
        if not _refused(response):
            return response
        response.close()
        log.info("MWAA web server refused the session (%s); logging in again", response.status_code)
        self._cookie.invalidate(cookie)
        self._request = request
        response = self._forward(request, self._cookie.get())
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
            extensions={**request.extensions, "timeout": fitted(request)},
        )
        return self._inner.handle_request(forwarded)

    def _login(self) -> str:
        request = self._request
        assert request is not None
        token = self.environment.call("CreateWebLoginToken")
        host, web_token = token.get("WebServerHostname"), token.get("WebToken")
        if not isinstance(host, str) or not host or not isinstance(web_token, str):
            raise UpstreamBadResponse("MWAA CreateWebLoginToken answer lacks a host or token")
        self._origin = httpx.URL(f"{self.scheme}://{host}")
        login = httpx.Request(
            "POST",
            self._origin.join("/aws_mwaa/login"),
            data={"token": web_token},
            extensions={"timeout": fitted(request)},
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
    if response.is_redirect:
        return "login" in urlsplit(response.headers.get("Location", "")).path
    return credentials_refused(response)
