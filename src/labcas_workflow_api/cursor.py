"""The one cursor codec: a place in a listing as an opaque token (compact JSON in unpadded
base64url); a token is taken only if it is exactly what ``encode`` makes of its document."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from labcas_workflow_api.domain.errors import BadRequest

#: Longest token, in characters: room for any S3 key (1,024 bytes) escaped in JSON.
MAX_LENGTH = 8192

_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
T = TypeVar("T")


def encode(document: Any) -> str:
    """The token of a JSON-able ``document``; ``ValueError`` when it is over ``MAX_LENGTH``."""
    raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    if len(token) > MAX_LENGTH:
        raise ValueError(f"cursor over {MAX_LENGTH} characters")
    return token


def decode(token: str, read: Callable[[Any], T]) -> T:
    """``read`` of the document in ``token``; ``BadRequest`` for a token ``encode`` did not
    make, or whose document ``read`` refuses (raising ValueError, TypeError, Key/IndexError)."""
    try:
        if not 0 < len(token) <= MAX_LENGTH or not _ALPHABET.fullmatch(token):
            raise ValueError(token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw.decode())
        if encode(document) != token:
            raise ValueError(token)
        return read(document)
    except (ValueError, TypeError, KeyError, IndexError, binascii.Error, RecursionError):
        raise BadRequest("invalid cursor: use the next link of a previous page") from None
