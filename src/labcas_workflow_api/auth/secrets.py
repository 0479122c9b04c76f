"""Where the JWT secret comes from: a setting, a file, or AWS Secrets Manager (cached)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from labcas_workflow_api import deadline
from labcas_workflow_api.cache import Cached
from labcas_workflow_api.domain.errors import ConfigError, DeadlineExceeded, UpstreamUnavailable
from labcas_workflow_api.settings import Settings

_SECRET_CACHE_SECONDS = 300
_REFRESH_MIN_SECONDS = 5


class SecretSource(Protocol):
    """The current JWT secret; ``refresh()`` re-reads it now (when a token's signature does
    not match, the secret may just have been rotated) and returns it."""

    def __call__(self) -> str: ...

    def refresh(self) -> str: ...


def jwt_secret_provider(settings: Settings, *, secretsmanager_client: Any = None) -> SecretSource:
    """The JWT secret's source.

    ``LABCAS_JWT_SECRET`` wins, then ``LABCAS_JWT_SECRET_FILE`` (read at each use), then
    ``LABCAS_JWT_SECRET_ARN`` (cached a few minutes, re-read at once on ``refresh``). Raises
    ConfigError when none is set; reading raises UpstreamUnavailable when Secrets Manager
    cannot be read and nothing is cached.
    """
    if settings.jwt_secret:
        return FixedSecret(settings.jwt_secret)
    if settings.jwt_secret_file:
        return _File(Path(settings.jwt_secret_file))
    if settings.jwt_secret_arn:
        return _SecretsManagerSecret(settings.jwt_secret_arn, secretsmanager_client)
    raise ConfigError(
        "no JWT secret: set LABCAS_JWT_SECRET, LABCAS_JWT_SECRET_FILE or LABCAS_JWT_SECRET_ARN"
    )


class FixedSecret:
    """A secret given as such (a setting, a test)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __call__(self) -> str:
        return self._value

    refresh = __call__


class _File:
    def __init__(self, path: Path) -> None:
        self._path = path

    def __call__(self) -> str:
        try:
            return self._path.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"LABCAS_JWT_SECRET_FILE: cannot read {self._path}: {exc.strerror}"
            ) from None

    refresh = __call__


class _SecretsManagerSecret:
    """The secret from Secrets Manager, cached; while one thread re-reads it, the others keep
    using the cached value rather than wait for a slow service, and a failed re-read keeps the
    last good value."""

    def __init__(self, secret_id: str, client: Any) -> None:
        from labcas_workflow_api.access_source import aws_clients

        self._secret_id = secret_id
        self._clients = aws_clients("secretsmanager", client)
        self._cached = Cached(
            self._read, _SECRET_CACHE_SECONDS, keep_last_good=True, name="JWT secret"
        )

    def __call__(self) -> str:
        return self._cached.get()

    def refresh(self) -> str:
        return self._cached.get(max_age=_REFRESH_MIN_SECONDS)

    def _read(self) -> str:
        """The secret from Secrets Manager, with a client fitting the request deadline
        (``access_source.aws_clients``); ``DeadlineExceeded`` once that passed."""
        try:
            answer = self._clients.get().get_secret_value(SecretId=self._secret_id)
        except DeadlineExceeded:
            raise
        except Exception as exc:
            if deadline.expired():
                raise deadline.exceeded("the JWT secret from Secrets Manager") from None
            raise UpstreamUnavailable(f"cannot read the JWT secret: {exc}") from None
        return str(answer.get("SecretString") or "")
