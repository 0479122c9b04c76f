"""Where the CLI finds its API URL and token: options, then environment, then a config file."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import typer

APP_NAME = "labcas-workflows"
ENV_URL = "LABCAS_API_URL"
ENV_TOKEN = "LABCAS_TOKEN"  # noqa: S105 - the variable's name, not a secret


def config_path() -> Path:
    """The config file in the user's config directory (``~/.config/labcas-workflows``)."""
    return Path(typer.get_app_dir(APP_NAME)) / "config.json"


def read_config() -> dict[str, str]:
    path = config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    return (
        {k: str(v) for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
    )


def write_config(values: Mapping[str, str]) -> Path:
    """Write the config file readable by its owner only (mode 0600, folder 0700)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(dict(values), out, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class Connection:
    api_url: str | None
    token: str | None
    source_url: str
    source_token: str


def resolve(
    api_url: str | None, token: str | None, env: Mapping[str, str] | None = None
) -> Connection:
    """Options win over the environment, which wins over the config file (read if needed)."""
    env = os.environ if env is None else env
    from_file = functools.cache(read_config)

    def pick(option: str | None, flag: str, var: str, key: str) -> tuple[str | None, str]:
        for value, source in ((option, flag), (env.get(var), var)):
            if value:
                return value, source
        return from_file().get(key), str(config_path())

    url, url_src = pick(api_url, "--api-url", ENV_URL, "api_url")
    tok, tok_src = pick(token, "--token", ENV_TOKEN, "token")
    return Connection(
        url.rstrip("/") if url else None, tok.strip() if tok else None, url_src, tok_src
    )


def token_claims(token: str) -> dict[str, Any]:
    """The (unverified) payload of a JWT, to show who it names and when it expires."""
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


def token_user(claims: Mapping[str, Any]) -> str | None:
    """The username a token names: ``username``, else the ``uid`` of an LDAP DN ``sub``."""
    name = claims.get("username") or claims.get("sub")
    if not isinstance(name, str):
        return None
    key, sep, value = name.split(",")[0].partition("=")
    return value if sep and key.strip().lower() == "uid" else name


def token_expiry(claims: Mapping[str, Any]) -> datetime | None:
    exp = claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return datetime.fromtimestamp(exp, UTC)
    return None
