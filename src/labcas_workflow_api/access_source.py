"""Where the access config comes from: a YAML file or an SSM parameter, re-read after a TTL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from labcas_workflow_api.cache import Cached
from labcas_workflow_api.domain.access import AccessConfig, parse_access_config
from labcas_workflow_api.domain.errors import ConfigError, UpstreamUnavailable

log = logging.getLogger(__name__)

#: botocore settings for reads on the request path: a slow AWS service fails fast
AWS_TIMEOUTS: dict[str, Any] = {
    "connect_timeout": 3,
    "read_timeout": 5,
    "retries": {"max_attempts": 2, "mode": "standard"},
}


def new_ssm_client() -> Any:
    """A boto3 SSM client with the timeouts of the request path."""
    import boto3
    from botocore.config import Config

    return boto3.client("ssm", config=Config(**AWS_TIMEOUTS))


def read_access_text(location: str, *, ssm_client: Any = None) -> str:
    """The raw YAML at ``location``: a file path or ``ssm:/parameter/name`` (decrypted)."""
    if location.startswith("ssm:"):
        name = location.removeprefix("ssm:")
        try:
            client = new_ssm_client() if ssm_client is None else ssm_client
            answer = client.get_parameter(Name=name, WithDecryption=True)
        except Exception as exc:
            raise UpstreamUnavailable(f"cannot read SSM parameter {name}: {exc}") from None
        return str(answer["Parameter"]["Value"])
    try:
        return Path(location).read_text()
    except OSError as exc:
        raise ConfigError(f"LABCAS_CONFIG: cannot read {location}: {exc.strerror}") from None


def load_access_config(location: str, *, ssm_client: Any = None) -> AccessConfig:
    """Read and validate the access config; ConfigError names the bad key."""
    return parse_access_config(read_access_text(location, ssm_client=ssm_client), location)


class AccessConfigSource:
    """The current access config, re-read after ``ttl`` seconds.

    When a re-read fails, the last good config keeps being served and the error is logged and
    kept in ``last_error``. While one thread re-reads, the others keep being served the last
    good config instead of waiting for a slow source. ``get`` raises only when no config was
    ever loaded.
    """

    def __init__(self, location: str, ttl: float = 60, *, ssm_client: Any = None) -> None:
        self.location = location
        self._ssm_client = ssm_client
        self._cached = Cached(self._load, ttl, keep_last_good=True, name="access config")

    def get(self) -> AccessConfig:
        """The config, re-read after ``ttl`` seconds by one thread while the others keep the
        current one."""
        return self._cached.get()

    def peek(self) -> AccessConfig | None:
        """The config if it is fresh (read less than ``ttl`` ago), else None; never reads."""
        return self._cached.peek()

    @property
    def last_error(self) -> str | None:
        """Why the last re-read failed, while the last good config is served; else None."""
        return self._cached.last_error

    def _load(self) -> AccessConfig:
        if self._ssm_client is None and self.location.startswith("ssm:"):
            try:
                self._ssm_client = new_ssm_client()  # one per source, not one per re-read
            except Exception as exc:
                raise UpstreamUnavailable(f"cannot create an SSM client: {exc}") from None
        return load_access_config(self.location, ssm_client=self._ssm_client)
