"""Where the access config comes from: a YAML file or an SSM parameter, re-read after a TTL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labcas_workflow_api import deadline
from labcas_workflow_api.cache import Cached
from labcas_workflow_api.deadline import BoundedClients
from labcas_workflow_api.domain.access import AccessConfig, parse_access_config
from labcas_workflow_api.domain.errors import ConfigError, DeadlineExceeded, UpstreamUnavailable

#: SSM and Secrets Manager reads fail fast: at most 2 * (1 s + 3 s) + 1 s of pause = 9 s
#: (``deadline.worst_case``), within the authorizer's Lambda timeout (10 s,
#: terraform/environments/dev/main.tf) less ``deadline.LAMBDA_MARGIN``; a second read gets
#: what the first left (``deadline.fit``).
AWS_CONNECT_TIMEOUT = 1.0
AWS_READ_TIMEOUT = 3.0
AWS_ATTEMPTS = 2


def aws_clients(service: str, client: Any = None) -> BoundedClients:
    """boto3 clients of ``service`` fitted to the request deadline (``client`` when given)."""
    if client is not None:
        return BoundedClients.fixed(client, name=service)

    def make(config: Any) -> Any:
        import boto3

        return boto3.client(service, config=config)  # type: ignore[call-overload]

    return BoundedClients(
        make,
        connect=AWS_CONNECT_TIMEOUT,
        read=AWS_READ_TIMEOUT,
        attempts=AWS_ATTEMPTS,
        name=service,
    )


def read_parameter(name: str, clients: BoundedClients) -> str:
    """An SSM parameter's decrypted value; ``UpstreamUnavailable`` when it cannot be read,
    ``DeadlineExceeded`` when the request deadline passed first."""
    try:
        answer = clients.get().get_parameter(Name=name, WithDecryption=True)
    except DeadlineExceeded:
        raise
    except Exception as exc:
        if deadline.expired():
            raise deadline.exceeded(f"SSM parameter {name}") from None
        raise UpstreamUnavailable(f"cannot read SSM parameter {name}: {exc}") from None
    return str(answer["Parameter"]["Value"])


def load_access_config(location: str, *, ssm_client: Any = None) -> AccessConfig:
    """Read and validate the access config at ``location``, a file path or ``ssm:/name``;
    ConfigError names the bad key."""
    return _read(location, aws_clients("ssm", ssm_client))


def _read(location: str, ssm: BoundedClients) -> AccessConfig:
    if location.startswith("ssm:"):
        text = read_parameter(location.removeprefix("ssm:"), ssm)
    else:
        try:
            text = Path(location).read_text()
        except OSError as exc:
            raise ConfigError(f"LABCAS_CONFIG: cannot read {location}: {exc.strerror}") from None
    return parse_access_config(text, location)


class AccessConfigSource(Cached[AccessConfig]):
    """The current access config, re-read after ``ttl`` seconds by one thread while the others
    are served the current one. When a re-read fails, the last good config is served and the
    error logged and kept in ``last_error``; ``get`` raises only when none was ever loaded."""

    def __init__(self, location: str, ttl: float = 60, *, ssm_client: Any = None) -> None:
        self.location = location
        self._ssm = aws_clients("ssm", ssm_client)  # one set per source, not one per re-read
        super().__init__(self._load, ttl, keep_last_good=True, name="access config")

    def _load(self) -> AccessConfig:
        return _read(self.location, self._ssm)
