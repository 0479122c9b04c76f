"""Security headers on every answer, and the web app's ``config.js``.

The web app (``/ui/``) may load from its own origin only and talk to it, ``LABCAS_WEB_API_URLS``
and the storage serving downloads; the HTML output listing may use its one inline stylesheet
only; any other answer, opened as a page, can run or load nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from labcas_workflow_api.http.html import LISTING_STYLE
from labcas_workflow_api.settings import Settings

Headers = list[tuple[bytes, bytes]]
REFRESH_MS = 4000


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def storage_origins(settings: Settings, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Origins of the presigned download links (``S3Store.object_url``): the setting, else the
    S3 endpoint's, else AWS's for the staging bucket (virtual-hosted when its name allows)."""
    if settings.web_storage_origins:
        return [o.strip().rstrip("/") for o in settings.web_storage_origins.split(",") if o.strip()]
    if settings.s3_endpoint_url:
        return [origin_of(settings.s3_endpoint_url)]
    from labcas_workflow_api.storage.s3 import _DNS_BUCKET

    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    # boto3 names us-east-1 by its global endpoint; the regional one is listed in case it moves
    hosts = ["s3.amazonaws.com"] if region == "us-east-1" else []
    hosts.append(f"s3.{region}.amazonaws.com")
    bucket = settings.staging_bucket
    prefix = f"{bucket}." if _DNS_BUCKET.match(bucket) else ""
    return [f"https://{prefix}{host}" for host in hosts]


def app_policy(settings: Settings, environ: Mapping[str, str] = os.environ) -> str:
    """The Content-Security-Policy of the web app's files."""
    storage = storage_origins(settings, environ)
    apis = [origin_of(u) for u in settings.web_api_bases]
    connect = list(dict.fromkeys(["'self'", *apis, *storage]))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src " + " ".join(["'self'", *storage]),
            "connect-src " + " ".join(connect),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


LISTING_POLICY = (
    f"default-src 'none'; style-src {_hash(LISTING_STYLE)}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def _headers(policy: str) -> Headers:
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]


class SecurityHeaders:
    """The security headers of an answer (built once): the web app's under ``ui_paths``, else by
    the answer's content type."""

    def __init__(self, settings: Settings, ui_paths: Sequence[str]) -> None:
        self.ui_exact = frozenset(ui_paths)
        self.ui_prefixes = tuple(f"{p}/" for p in ui_paths)
        self.ui_headers = _headers(app_policy(settings))
        self.html_headers = _headers(LISTING_POLICY)
        self.api_headers = _headers(API_POLICY)

    def of(self, path: str, headers: Headers) -> Headers:
        """Those of an answer to ``path`` with ``headers``."""
        if path.startswith(self.ui_prefixes) or path in self.ui_exact:
            return self.ui_headers
        content_type = next((value for key, value in headers if key == b"content-type"), b"")
        return self.html_headers if content_type.startswith(b"text/html") else self.api_headers


def config_script(settings: Settings) -> bytes:
    """The ``config.js`` served with the web app: its own origin first, then the settings'."""
    config = {"apiUrl": "", "apiUrls": settings.web_api_bases, "refreshMs": REFRESH_MS}
    return f"window.LABCAS_CONFIG = Object.freeze({json.dumps(config)});\n".encode()


def config_endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint answering ``config_script(settings)``, never cached unchecked."""
    body = config_script(settings)

    async def endpoint(request: Request) -> Response:
        return Response(body, media_type="text/javascript", headers={"cache-control": "no-cache"})

    return endpoint
