"""Where the JWT secret comes from: a setting, a file, or AWS Secrets Manager (cached)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Protocol

from labcas_workflow_api import deadline
from labcas_workflow_api.cache import Cached
from labcas_workflow_api.domain.errors import ConfigError, DeadlineExceeded, UpstreamUnavailable
from labcas_workflow_api.settings import Settings

_SECRET_CACHE_SECONDS = 300
_REFRESH_MIN_SECONDS = 5


class SecretSource(Protocol):
    """The current JWT secret; ``refresh()`` re-reads it now (it may have been rotated);
    ``known()`` returns it only if that needs no wait, else None."""

    def __call__(self) -> str: ...

    def refresh(self) -> str: ...

    def known(self) -> str | None: ...


def jwt_secret_provider(settings: Settings, *, secretsmanager_client: Any = None) -> SecretSource:
    """``LABCAS_JWT_SECRET``, else ``LABCAS_JWT_SECRET_FILE`` (read at each use), else
    ``LABCAS_JWT_SECRET_ARN`` (cached a few minutes); ConfigError when none is set. Reading
    raises UpstreamUnavailable when Secrets Manager cannot be read and nothing is cached."""
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

    refresh = known = __call__


class _File:
    """Read at each use; ``known()`` is the last one read while the file's status is unchanged
    (one ``stat``), never within a second of a change: two writes within one tick of the file
    system's clock may leave the same status."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._last: tuple[tuple[int, int, int], str] | None = None

    def __call__(self) -> str:
        try:
            status = os.stat(self._path)
            secret = self._path.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"LABCAS_JWT_SECRET_FILE: cannot read {self._path}: {exc.strerror}"
            ) from None
        self._last = (_signature(status), secret)
        return secret

    refresh = __call__

    def known(self) -> str | None:
        last = self._last
        if last is None:
            return None
        try:
            status = os.stat(self._path)
        except OSError:
            return None
        if _signature(status) != last[0] or time.time() - status.st_mtime < 1:
            return None
        return last[1]


def _signature(status: os.stat_result) -> tuple[int, int, int]:
    return status.st_ino, status.st_size, status.st_mtime_ns


class _SecretsManagerSecret:
    """Cached; while one thread re-reads it the others use the cached value, and a failed
    re-read keeps the last good one."""

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

    def known(self) -> str | None:
        return self._cached.peek()

    def _read(self) -> str:
        """``DeadlineExceeded`` once the request deadline passed."""
        try:
            answer = self._clients.get().get_secret_value(SecretId=self._secret_id)
        except DeadlineExceeded:
            raise
        except Exception as exc:
            if deadline.expired():
                raise deadline.exceeded("the JWT secret from Secrets Manager") from None
            raise UpstreamUnavailable(f"cannot read the JWT secret: {exc}") from None
        return str(answer.get("SecretString") or "")
