"""Where the JWT secret comes from: a setting, a file, or AWS Secrets Manager (cached)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labcas_workflow_api.domain.errors import ConfigError, UpstreamUnavailable
from labcas_workflow_api.settings import Settings

_SECRET_CACHE_SECONDS = 300


def jwt_secret_provider(
    settings: Settings, *, secretsmanager_client: Any = None
) -> Callable[[], str]:
    """A function returning the current JWT secret.

    ``LABCAS_JWT_SECRET`` wins, then ``LABCAS_JWT_SECRET_FILE``, then ``LABCAS_JWT_SECRET_ARN``
    (re-read every few minutes so a rotated secret is picked up). Raises ConfigError when none
    is set, UpstreamUnavailable when Secrets Manager cannot be read and nothing is cached.
    """
    if settings.jwt_secret:
        secret = settings.jwt_secret
        return lambda: secret
    if settings.jwt_secret_file:
        path = Path(settings.jwt_secret_file)
        return lambda: _read_file(path)
    if settings.jwt_secret_arn:
        return _SecretsManagerSecret(settings.jwt_secret_arn, secretsmanager_client).get
    raise ConfigError(
        "no JWT secret: set LABCAS_JWT_SECRET, LABCAS_JWT_SECRET_FILE or LABCAS_JWT_SECRET_ARN"
    )


def _read_file(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"LABCAS_JWT_SECRET_FILE: cannot read {path}: {exc.strerror}") from None


class _SecretsManagerSecret:
    def __init__(self, secret_id: str, client: Any) -> None:
        self._secret_id = secret_id
        self._client = client
        self._value = ""
        self._read_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        if self._value and time.monotonic() - self._read_at < _SECRET_CACHE_SECONDS:
            return self._value
        with self._lock:
            try:
                if self._client is None:
                    import boto3

                    self._client = boto3.client("secretsmanager")
                answer = self._client.get_secret_value(SecretId=self._secret_id)
            except Exception as exc:
                if self._value:
                    return self._value
                raise UpstreamUnavailable(f"cannot read the JWT secret: {exc}") from None
            self._value = str(answer.get("SecretString") or "")
            self._read_at = time.monotonic()
            return self._value
