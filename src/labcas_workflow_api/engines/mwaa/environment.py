"""One MWAA environment: its boto3 clients, ``GetEnvironment`` and AWS failures as our errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

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
from labcas_workflow_api.engines.airflow.dialects import Dialect, dialect_for

log = logging.getLogger(__name__)

THROTTLING = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"}
)
#: botocore attempts of an MWAA call (``standard`` mode: throttling and connection errors)
MWAA_ATTEMPTS = 3


def mwaa_clients(
    region: str | None = None,
    *,
    timeout: float = 10.0,
    make: Callable[[Any], Any] | None = None,
) -> BoundedClients:
    """boto3 MWAA clients with a ``timeout`` s read timeout (connect: at most 5 s) and
    ``MWAA_ATTEMPTS`` attempts, or as much of that as the request deadline leaves, built by
    ``make(config)``. One is built at once: a missing region is a ``ConfigError`` here."""
    if make is None:

        def make(config: Any) -> Any:
            import boto3
            from botocore.exceptions import NoRegionError

            try:
                return boto3.client("mwaa", region_name=region or None, config=config)
            except NoRegionError as exc:
                raise ConfigError("AWS_REGION: set the region of the MWAA environment") from exc

    clients = BoundedClients(
        make, connect=min(timeout, 5.0), read=timeout, attempts=MWAA_ATTEMPTS, name="MWAA"
    )
    clients.configured()
    return clients


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
        answer = aws_call(self, "GetEnvironment", "get_environment")
        environment = answer.get("Environment")
        if not isinstance(environment, dict):
            raise UpstreamBadResponse("MWAA GetEnvironment answer has no Environment")
        return environment

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


def aws_call(environment: MwaaEnvironment, operation: str, method: str, **kwargs: Any) -> Any:
    """``method(Name=..., **kwargs)`` of a client fitting the request deadline; AWS failures as
    our errors."""
    from botocore import exceptions as aws

    name = environment.name
    call = getattr(environment.clients.get(), method)
    try:
        return call(Name=name, **kwargs)
    except aws.ClientError as exc:
        raise client_error(exc, operation, name) from exc
    except (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ReadTimeoutError) as exc:
        if deadline.expired():
            raise deadline.exceeded(f"MWAA {operation}") from exc
        if isinstance(exc, aws.ReadTimeoutError):
            raise UpstreamTimeout(f"MWAA did not answer {operation} in time") from exc
        raise UpstreamUnavailable(f"cannot reach MWAA ({operation}): {exc}") from exc
    except (aws.NoCredentialsError, aws.NoRegionError) as exc:
        raise ConfigError(f"AWS_REGION / AWS credentials for MWAA ({operation}): {exc}") from exc
    except aws.BotoCoreError as exc:
        raise UpstreamUnavailable(f"MWAA call {operation} failed: {exc}") from exc


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
