"""Lean S3 reads (measured 5-13x cheaper than boto3's, see ``storage.s3``): SigV4 query-string
signing, keep-alive ``http.client`` connections, ListObjectsV2 parsing."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from urllib.parse import quote, unquote_plus, urlsplit

from labcas_workflow_api.domain.models import ObjectInfo

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


class SigV4Presigner:
    """AWS Signature Version 4 query-string signing for S3 (``UNSIGNED-PAYLOAD``); the signing
    key depends only on secret, day and region, so it is derived once a day, not per URL."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._keys: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def signing_key(self, secret_key: str, day: str) -> bytes:
        cache_key = (secret_key, day)
        key = self._keys.get(cache_key)
        if key is None:
            key = ("AWS4" + secret_key).encode()
            for part in (day, self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            with self._lock:
                if len(self._keys) > 8:
                    self._keys.clear()
                self._keys[cache_key] = key
        return key

    def presign(
        self,
        method: str,
        base_url: str,
        path: str,
        credentials: Credentials,
        ttl: int,
        *,
        query: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> str:
        """A signed URL; ``path`` must already be percent-encoded (``quote(.., safe='/~')``)."""
        now = now or datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        scope = f"{day}/{self.region}/s3/aws4_request"
        params = {
            **(query or {}),
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{credentials.access_key}/{scope}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(ttl),
            "X-Amz-SignedHeaders": "host",
        }
        if credentials.token:
            params["X-Amz-Security-Token"] = credentials.token
        encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in params.items())
        canonical_query = "&".join(f"{k}={v}" for k, v in encoded)
        host = signed_host(base_url)
        canonical_request = (
            f"{method}\n{path}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
        )
        string_to_sign = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
            + hashlib.sha256(canonical_request.encode()).hexdigest()
        )
        signature = hmac.new(
            self.signing_key(credentials.secret_key, day), string_to_sign.encode(), hashlib.sha256
        ).hexdigest()
        return f"{base_url}{path}?{canonical_query}&X-Amz-Signature={signature}"


def signed_host(base_url: str) -> str:
    """The ``Host`` header an HTTP client sends for ``base_url`` (default ports left out)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Message

    def header(self, name: str) -> str:
        return self.headers.get(name) or ""


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


class ConnectionPool:
    """Keep-alive ``http.client`` connections to one host, shared by threads."""

    def __init__(self, url: str, connect_timeout: float, read_timeout: float, size: int) -> None:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if https else 80)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.size = size
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._ssl = ssl.create_default_context() if https else None

    def _new(self) -> http.client.HTTPConnection:
        conn = (
            http.client.HTTPSConnection(self.host, self.port, context=self._ssl)
            if self._ssl is not None
            else http.client.HTTPConnection(self.host, self.port)
        )
        conn.timeout = self.connect_timeout
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(self.read_timeout)
        return conn

    def request(self, method: str, path_and_query: str, attempts: int = 3) -> Answer:
        """``GET`` or ``HEAD`` with bounded retries on connection errors and 5xx answers. A
        kept-alive connection that fails uses up no attempt: after a server restart or a network
        cut every idle one is stale, so all are dropped and the request sent on a new one."""
        attempt, stale = 1, 0
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            try:
                if conn is None:
                    conn = self._new()
                conn.request(method, path_and_query)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                if conn is not None:
                    conn.close()
                if isinstance(exc, TimeoutError):
                    raise
                if reused and stale <= self.size:
                    stale += 1
                    self.close()
                    continue
                if attempt == attempts:
                    raise
            else:
                with self._lock:
                    kept = not response.will_close and len(self._idle) < self.size
                    if kept:
                        self._idle.append(conn)
                if not kept:
                    conn.close()
                if response.status < 500 or attempt == attempts:
                    return Answer(response.status, body, response.headers)
            time.sleep(0.05 * attempt)
            attempt += 1

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


@dataclass
class Page:
    entries: list[tuple[str, ObjectInfo | None]]  # sorted; None marks a common prefix
    next_token: str | None


def bare_etag(value: str | None) -> str:
    """An ETag without the quotes S3 puts around it (listings, HEAD and GET alike)."""
    return (value or "").strip('"')


def parse_list(body: bytes) -> Page:
    try:
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise HttpError(200, "MalformedListing", str(exc)) from None
    url_encoded = root.findtext(f"{_NS}EncodingType") == "url"

    def text(value: str | None) -> str:
        value = value or ""
        return unquote_plus(value) if url_encoded else value

    entries: list[tuple[str, ObjectInfo | None]] = [
        (text(elem.findtext(f"{_NS}Prefix")), None) for elem in root.iter(f"{_NS}CommonPrefixes")
    ]
    for elem in root.iter(f"{_NS}Contents"):
        info = ObjectInfo(
            key=text(elem.findtext(f"{_NS}Key")),
            size=int(elem.findtext(f"{_NS}Size") or 0),
            last_modified=datetime.fromisoformat(
                elem.findtext(f"{_NS}LastModified") or "1970-01-01T00:00:00Z"
            ),
            etag=bare_etag(elem.findtext(f"{_NS}ETag")),
        )
        entries.append((info.key, info))
    entries.sort(key=lambda e: e[0])
    truncated = root.findtext(f"{_NS}IsTruncated") == "true"
    token = root.findtext(f"{_NS}NextContinuationToken") if truncated else None
    if truncated and not token:
        raise HttpError(200, "MalformedListing", "truncated listing without continuation token")
    return Page(entries, token)


def error_code(body: bytes, status: int) -> tuple[str, str]:
    try:
        root = ET.fromstring(body)  # noqa: S314
        return root.findtext("Code") or str(status), root.findtext("Message") or ""
    except ET.ParseError:
        return str(status), ""
