"""Every setting of the service: one pydantic-settings class, environment prefix ``LABCAS_``."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from labcas_workflow_api.edge import split_origins

EngineKind = Literal["airflow3", "airflow2", "mwaa", "mwaa-web-login"]
_HOST = re.compile(r"^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")


class Settings(BaseSettings):
    """Settings read from ``LABCAS_*`` environment variables (AWS ones keep their own names)."""

    model_config = SettingsConfigDict(env_prefix="LABCAS_", extra="ignore")

    config: str = Field(
        "access.yml",
        description="Access config: a YAML file path, or `ssm:/labcas/workflow/api/config`.",
    )
    config_ttl: float = Field(60, ge=0, description="Seconds before the access config is re-read.")
    engine: EngineKind = Field("airflow3", description="Workflow engine adapter.")
    engine_url: str = Field(
        "http://127.0.0.1:8080", description="Base URL of the Airflow web server / API server."
    )
    engine_username: str = Field("admin", description="Airflow user for the engine API.")
    engine_password: str = Field("", description="Password of that Airflow user.")
    engine_timeout: float = Field(10, gt=0, description="Read timeout (s) of engine calls.")
    request_timeout: float = Field(
        50,
        gt=0,
        description=(
            "Seconds a request may take in all, every engine and AWS call, retry and wait "
            "included; then the answer is a 504. The default answers before a reverse proxy's "
            "usual 60 s (nginx `proxy_read_timeout`, Apache `ProxyTimeout`) gives up. On Lambda "
            "the invocation's remaining time less 1 s applies when it is shorter."
        ),
    )
    engine_cache_ttl: float = Field(
        10,
        ge=0,
        description="Seconds the deployed workflows and their details are reused; 0: not at all.",
    )
    run_list_ttl: float = Field(
        1,
        ge=0,
        description=(
            "Seconds a user's run list is reused (dropped at once on their own start or "
            "cancel); for 2 s more it is answered at once and renewed behind; 0: every "
            "listing asks the engine."
        ),
    )
    listing_ttl: float = Field(
        2,
        ge=0,
        description=(
            "Seconds a folder's listing is reused when browsing outputs (all are dropped on an "
            "annotation through the same process; a request with `Cache-Control: no-cache` "
            "lists afresh); 0: every browse lists the staging bucket."
        ),
    )
    log_max_bytes: int = Field(
        0,
        ge=0,
        description=(
            "Most bytes of a task log in one answer, the rest one `next` link away; 0: no "
            "limit (the log is streamed). On Lambda, unless set, 1000000: the whole answer "
            "must fit in Lambda's 6 MB response, and JSON escapes a control character as 6 "
            "bytes."
        ),
    )
    mwaa_env_name: str = Field("", description="MWAA environment name (`mwaa*` engines).")
    mwaa_api: Literal["", "v1", "v2"] = Field(
        "", description="Force the MWAA REST API version; empty: ask the environment."
    )
    staging_bucket: str = Field("labcas-staging", description="Bucket receiving run outputs.")
    s3_endpoint_url: str = Field("", description="S3 endpoint for non-AWS servers; empty for AWS.")
    jwt_secret: str = Field("", description="HS256 secret verifying LabCAS tokens.")
    jwt_secret_file: str = Field("", description="File holding the JWT secret.")
    jwt_secret_arn: str = Field("", description="Secrets Manager ARN/name of the JWT secret.")
    jwt_issuer: str = Field("LabCAS", description="Required `iss` claim.")
    jwt_audience: str = Field("LabCAS", description="Required `aud` claim.")
    jwt_algorithms: str = Field("HS256", description="Comma-separated accepted JWT algorithms.")
    jwt_max_age: float = Field(
        0,
        ge=0,
        description="Longest accepted token lifetime (`exp - iat`), seconds; 0: no limit.",
    )
    jwt_dn_base: str = Field(
        "",
        description=(
            "LDAP base that DN subjects must end with "
            "(e.g. `dc=edrn,dc=jpl,dc=nasa,dc=gov`); empty: any base."
        ),
    )
    allowed_origins: str = Field("", description="Comma-separated CORS origins (`*` for any).")
    public_url: str = Field(
        "", description="Base URL for absolute links; derived from the request when empty."
    )
    allowed_hosts: str = Field(
        "",
        description=(
            "Standalone server: comma-separated `Host` names links may be built from when "
            "`LABCAS_PUBLIC_URL` is empty (`*.example.org` for a domain, `*` for any); empty: "
            "`127.0.0.1,localhost,::1`. The host of `LABCAS_PUBLIC_URL` is always added."
        ),
    )
    forwarded_allow_ips: str = Field(
        "",
        description=(
            "Standalone server: comma-separated addresses (or networks) of proxies whose "
            "`X-Forwarded-Proto` / `X-Forwarded-For` are believed (`*` for any); empty: none."
        ),
    )
    max_connections: int = Field(
        1000,
        gt=0,
        description=(
            "Standalone server: open connections (and requests in progress) per worker beyond "
            "which new requests are answered 503."
        ),
    )
    header_timeout: float = Field(
        10,
        gt=0,
        description=(
            "Standalone server: seconds a client has to send a request's headers (from the "
            "connection's opening, or from the first byte of the next request); then the "
            "connection is closed."
        ),
    )
    body_timeout: float = Field(
        30,
        gt=0,
        description=(
            "Standalone server: seconds a client has to send a request's body once its "
            "headers are in; then the connection is closed."
        ),
    )
    keep_alive_timeout: int = Field(
        5,
        gt=0,
        description="Standalone server: seconds an idle keep-alive connection stays open.",
    )
    wes_auth_instructions_url: str = Field(
        "",
        description=(
            "The WES face's `auth_instructions_url`: a page telling people how to get a token "
            "(e.g. the published docs' `wes.html`); empty: the web app served here (`/ui/`)."
        ),
    )
    presign_ttl: int = Field(3600, gt=0, le=604800, description="Presigned URL lifetime (s).")
    stage: str = Field("", description="API Gateway-style stage name also served as a prefix.")
    base_path: str = Field(
        "",
        description=(
            "On Lambda: the base path of a custom domain's mapping to the stage (e.g. "
            "`workflows` for `https://api.example.org/workflows/...`), stripped from event "
            "paths before routing."
        ),
    )
    web_api_urls: str = Field(
        "",
        description=(
            "Comma-separated further API base URLs that a `?api=` link may point the web app "
            "served here at; without one it talks to its own origin (and stage) only."
        ),
    )
    web_storage_origins: str = Field(
        "",
        description=(
            "Comma-separated origins of the presigned download links the web app previews "
            "(its Content-Security-Policy); empty: the origin of `LABCAS_S3_ENDPOINT_URL`, "
            "else the staging bucket's S3 origin in `AWS_REGION`."
        ),
    )

    @field_validator("stage", "base_path")
    @classmethod
    def _strip_slashes(cls, value: str) -> str:
        return value.strip("/")

    @field_validator("web_api_urls", "web_storage_origins")
    @classmethod
    def _http_urls(cls, value: str, info: ValidationInfo) -> str:
        for url in split_origins(value):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not _HOST.match(parts.netloc):
                raise ValueError(f"{url!r} is not an http(s) URL")
            if parts.query or parts.fragment:
                raise ValueError(f"{url!r} has a query or fragment")
            if info.field_name == "web_storage_origins" and parts.path not in ("", "/"):
                raise ValueError(f"{url!r} is not an origin (scheme://host[:port])")
        return value

    @property
    def web_api_bases(self) -> list[str]:
        return [u.rstrip("/") for u in split_origins(self.web_api_urls)]

    @property
    def origins(self) -> list[str]:
        return split_origins(self.allowed_origins)

    @property
    def hosts(self) -> list[str]:
        """The ``Host`` names the standalone server builds links from (``allowed_hosts``)."""
        given = [h.lower() for h in split_origins(self.allowed_hosts)]
        hosts = given or ["127.0.0.1", "localhost", "::1"]
        public = urlsplit(self.public_url).hostname if self.public_url else None
        return [*hosts, public] if public and public not in hosts else hosts

    @property
    def algorithms(self) -> list[str]:
        return split_origins(self.jwt_algorithms)
