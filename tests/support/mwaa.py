"""A local stand-in for AWS MWAA in front of the local Airflow servers (tests, benches; not
shipped in the wheel).

``LocalMwaa`` answers a boto3 MWAA client's ``InvokeRestApi``, ``GetEnvironment`` and
``CreateWebLoginToken`` from a botocore ``before-send`` handler: ``InvokeRestApi`` is performed
against the real local Airflow (``/api/v1`` or ``/api/v2`` by its version) and answered with the
wire shapes of the service model (``RestApiStatusCode``/``RestApiResponse``, Airflow's 4xx as
``RestApiClientException`` and 5xx as ``RestApiServerException``, HTTP 400; ``Path`` longer
than 64 characters refused with ``ValidationException`` as the model's ``RestApiPath`` says).
Nothing leaves the machine: the request is signed, then answered before it is sent.

``WebLoginProxy`` is the environment's web server: a small HTTP server on 127.0.0.1 whose
``POST /aws_mwaa/login`` (form field ``token``) exchanges a token from ``CreateWebLoginToken``
for a real Airflow session (Airflow 2: the FAB login form, cookie ``session``; Airflow 3: a JWT
in the ``_token`` cookie) and which passes every other request on to Airflow as it is.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from labcas_workflow_api.devstack.airflow import AirflowServer

log = logging.getLogger(__name__)

PATH_LIMIT = 64
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class _RawBody(io.BytesIO):
    """The raw body botocore reads from an ``AWSResponse``."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def _aws_response(url: str, status: int, body: dict[str, Any], error: str = "") -> Any:
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    headers = {
        "Content-Type": "application/json",
        "x-amzn-RequestId": secrets.token_hex(16),
    }
    if error:
        headers["x-amzn-ErrorType"] = error
    raw = _RawBody(json.dumps(body).encode())
    return AWSResponse(url, status, HTTPHeaders.from_dict(headers), raw)


class LocalMwaa:
    """MWAA environment ``name`` backed by a local ``AirflowServer``; ``attach`` it to clients.

    ``calls`` counts the operations answered; ``fail_next(code, status)`` makes the next
    calls of ``InvokeRestApi`` fail with an AWS error (e.g. ``ThrottlingException``, 429).
    """

    def __init__(
        self,
        airflow: AirflowServer,
        name: str = "labcas-local",
        *,
        path_limit: int | None = PATH_LIMIT,
        web_login: WebLoginProxy | None = None,
    ) -> None:
        self.airflow = airflow
        self.name = name
        self.path_limit = path_limit
        self.web_login = web_login
        self.calls: dict[str, int] = {}
        self.paths: list[str] = []
        self._failures: list[tuple[str, int]] = []
        self._http = httpx.Client(timeout=30)
        self._auth: dict[str, str] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def client(self, region: str = "us-east-1", **config: Any) -> Any:
        """A boto3 MWAA client (dummy credentials) answered by this stand-in."""
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "mwaa",
            region_name=region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(**{"retries": {"mode": "standard", "max_attempts": 2}, **config}),
        )
        return self.attach(client)

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-send.mwaa.InvokeRestApi", self._invoke_rest_api)
        events.register("before-send.mwaa.GetEnvironment", self._get_environment)
        events.register("before-send.mwaa.CreateWebLoginToken", self._create_web_login_token)
        return client

    def fail_next(self, code: str, status: int, times: int = 1) -> None:
        self._failures.extend([(code, status)] * times)

    def clear_failures(self) -> None:
        self._failures.clear()

    def reset_counts(self) -> None:
        self.calls.clear()
        self.paths.clear()

    # -- operations -------------------------------------------------------------------------

    def _count(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1

    def _unknown(self, request: Any) -> Any:
        name = unquote(urlsplit(request.url).path.rsplit("/", 1)[-1])
        if name == self.name:
            return None
        body = {"message": f"Environment {name} was not found"}
        return _aws_response(request.url, 404, body, "ResourceNotFoundException")

    def _get_environment(self, request: Any, **_: Any) -> Any:
        self._count("GetEnvironment")
        if unknown := self._unknown(request):
            return unknown
        environment = {
            "Name": self.name,
            "Arn": f"arn:aws:airflow:us-east-1:000000000000:environment/{self.name}",
            "AirflowVersion": self.airflow.version,
            "Status": "AVAILABLE",
            "WebserverUrl": self._web_server_host(),
        }
        return _aws_response(request.url, 200, {"Environment": environment})

    def _create_web_login_token(self, request: Any, **_: Any) -> Any:
        self._count("CreateWebLoginToken")
        if unknown := self._unknown(request):
            return unknown
        token = self.web_login.issue_token() if self.web_login else secrets.token_urlsafe(24)
        body = {
            "WebToken": token,
            "WebServerHostname": self._web_server_host(),
            "IamIdentity": "assumed-role/labcas-local/test",
            "AirflowIdentity": self.airflow.username,
        }
        return _aws_response(request.url, 200, body)

    def _web_server_host(self) -> str:
        server = self.web_login.url if self.web_login else self.airflow.url
        return server.removeprefix("http://")

    def _invoke_rest_api(self, request: Any, **_: Any) -> Any:
        self._count("InvokeRestApi")
        if unknown := self._unknown(request):
            return unknown
        if self._failures:
            code, status = self._failures.pop(0)
            return _aws_response(request.url, status, {"message": f"{code} (simulated)"}, code)
        call = json.loads(request.body or b"{}")
        path, method = call.get("Path"), call.get("Method")
        if not isinstance(path, str) or not path.startswith("/"):
            return self._invalid(request, "Path must start with /")
        if self.path_limit is not None and len(path) > self.path_limit:
            return self._invalid(
                request, f"Path: length must be at most {self.path_limit} characters"
            )
        if method not in ("GET", "PUT", "POST", "PATCH", "DELETE"):
            return self._invalid(request, f"Method {method!r} is not supported")
        self.paths.append(f"{method} {path}")
        status, answer = self._airflow(method, path, call.get("QueryParameters"), call.get("Body"))
        if status < 400:
            body: dict[str, Any] = {"RestApiStatusCode": status}
            if answer is not None:
                body["RestApiResponse"] = answer
            return _aws_response(request.url, 200, body)
        error = "RestApiClientException" if status < 500 else "RestApiServerException"
        body = {"RestApiStatusCode": status, "RestApiResponse": answer, "message": error}
        return _aws_response(request.url, 400, body, error)

    def _invalid(self, request: Any, message: str) -> Any:
        return _aws_response(request.url, 400, {"message": message}, "ValidationException")

    def _airflow(self, method: str, path: str, query: Any, body: Any) -> tuple[int, Any]:
        params: list[tuple[str, str | int | float | bool | None]] = []
        for key, value in (query or {}).items():
            for item in value if isinstance(value, list) else [value]:
                params.append((key, item if isinstance(item, str) else json.dumps(item)))
        url = self.airflow.api_url + path
        for attempt in range(2):
            response = self._http.request(
                method,
                url,
                params=params,
                json=body,
                headers={**self._headers(renew=attempt > 0), "Accept": "application/json"},
            )
            if not _token_refused(response):
                break
        if not response.content:
            return response.status_code, None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"content": response.text}

    def _headers(self, *, renew: bool) -> dict[str, str]:
        with self._lock:
            if self._auth is None or renew:
                self._auth = self.airflow.auth_headers(self._http)
            return self._auth


def _token_refused(response: httpx.Response) -> bool:
    """Whether Airflow refused the stand-in's own credentials (as AWS's, they are renewed):
    401, or Airflow 3's 403 for a token signed with a key it no longer has."""
    if response.status_code == 403:
        with contextlib.suppress(ValueError, AttributeError):
            return bool(response.json().get("detail") == "Invalid JWT token")
    return response.status_code == 401


class WebLoginProxy:
    """The MWAA web server of a local Airflow on 127.0.0.1 (``start``/``stop`` or ``with``).

    ``issue_token()`` makes a single-use login token (what ``CreateWebLoginToken`` returns);
    ``expire_sessions()`` logs every session it handed out off at Airflow, as an expired
    MWAA session would be; ``logins`` counts the successful logins.
    """

    token_ttl = 60.0

    def __init__(self, airflow: AirflowServer) -> None:
        self.airflow = airflow
        self.logins = 0
        self._tokens: dict[str, float] = {}
        self._sessions: list[str] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=30)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the web-login proxy is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> WebLoginProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._handle(self)

            do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("web-login proxy: " + format, *args)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._http.close()

    def __enter__(self) -> WebLoginProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
        return token

    def expire_sessions(self) -> int:
        """End every session handed out so far at Airflow, as expiry would; return how many.

        Airflow 3: the token is revoked (``/auth/logout``). Airflow 2: the server-side
        sessions (``[webserver] session_backend = database``) are deleted.
        """
        with self._lock:
            sessions, self._sessions = self._sessions, []
        if self.airflow.major >= 3:
            for cookie in sessions:
                logout = self._http.get(
                    self.airflow.api_url + "/auth/logout", headers={"Cookie": cookie}
                )
                if logout.status_code >= 400:
                    raise RuntimeError(f"Airflow logout answered {logout.status_code}")
        else:
            with contextlib.closing(sqlite3.connect(self.airflow.home / "airflow.db", 30)) as db:
                db.execute("DELETE FROM session")
                db.commit()
        return len(sessions)

    # -- serving ----------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        try:
            if handler.command == "POST" and urlsplit(handler.path).path == "/aws_mwaa/login":
                status, headers, content = self._login(body)
            else:
                status, headers, content = self._forward(handler, body)
        except httpx.HTTPError as exc:
            status, headers, content = 502, [], f"proxy error: {exc}".encode()
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def _login(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        token = (parse_qs(body.decode(errors="replace")).get("token") or [""])[0]
        with self._lock:
            expires = self._tokens.pop(token, 0.0)
        if expires < time.monotonic():
            return 403, [("Content-Type", "text/plain")], b"invalid or expired web login token"
        name, value = self._airflow_session()
        with self._lock:
            self._sessions.append(f"{name}={value}")
            self.logins += 1
        cookie = f"{name}={value}; Path=/; HttpOnly"
        return 302, [("Location", "/home"), ("Set-Cookie", cookie)], b""

    def _airflow_session(self) -> tuple[str, str]:
        """A logged-in Airflow session cookie for the admin user."""
        airflow = self.airflow
        if airflow.major >= 3:
            return "_token", airflow.token(self._http)
        with httpx.Client(base_url=airflow.url, timeout=30) as browser:
            form = browser.get("/login/")
            match = _CSRF.search(form.text)
            if match is None:
                raise httpx.HTTPError("no CSRF token on Airflow's login page")
            fields = {
                "username": airflow.username,
                "password": airflow.password,
                "csrf_token": match.group(1),
            }
            done = browser.post("/login/", data=fields)
            if done.status_code != 302:
                raise httpx.HTTPError(f"Airflow login answered {done.status_code}")
            value = browser.cookies.get("session")
            if not value:
                raise httpx.HTTPError("Airflow login set no session cookie")
            return "session", value

    def _forward(
        self, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        skipped = {"host", "content-length", "connection", "accept-encoding"}
        headers = [(k, v) for k, v in handler.headers.items() if k.lower() not in skipped]
        response = self._http.request(
            handler.command,
            self.airflow.url + handler.path,
            headers=headers,
            content=body,
        )
        kept = {"content-type", "set-cookie", "location"}
        out = [(k, v) for k, v in response.headers.multi_items() if k.lower() in kept]
        return response.status_code, out, response.content
