"""Output paths: what may name a folder or an area of the staging bucket."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

from labcas_workflow_api.domain.errors import BadRequest

MAX_PATH_BYTES = 1024
_MAX_DECODE_ROUNDS = 4
_PERCENT_U = re.compile(r"%u([0-9A-Fa-f]{4})")
_DRIVE = re.compile(r"^[A-Za-z]:")


def normalize_path(raw: str) -> str:
    """A safe relative folder path ('' for the root), without leading or trailing slash.

    ``BadRequest`` naming the problem for ``..`` or ``.`` segments in any encoding (percent,
    double percent, ``%u``, overlong UTF-8, fullwidth dots), absolute paths, backslashes,
    control characters, empty segments and paths longer than 1024 bytes.
    """
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise BadRequest(f"path longer than {MAX_PATH_BYTES} bytes")
    for variant in _decodings(raw):
        _check_variant(variant)
        _check_variant(unicodedata.normalize("NFKC", variant))
    return raw[:-1] if raw.endswith("/") else raw


def _decodings(raw: str) -> Iterator[str]:
    """The path as given, then percent-decoded again and again until it stops changing."""
    current = raw
    yield current
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = _percent_decode(current)
        if decoded == current:
            return
        current = decoded
        yield current
    raise BadRequest("path is percent-encoded too many times")


def _percent_decode(text: str) -> str:
    text = _PERCENT_U.sub(lambda m: chr(int(m.group(1), 16)), text)
    if "%" not in text:
        return text
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("path has percent-encoding that is not valid UTF-8") from None


def _check_variant(path: str) -> None:
    for ch in path:
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp"):
            raise BadRequest("path contains control characters")
        if category == "Cs" or ch == "\ufffd":
            raise BadRequest("path contains invalid (e.g. overlong) UTF-8")
    if "\\" in path:
        raise BadRequest("path contains a backslash")
    if path.startswith("/") or _DRIVE.match(path):
        raise BadRequest("path must be relative")
    body = path[:-1] if path.endswith("/") else path
    if not body:
        return
    for segment in body.split("/"):
        if segment.strip() in (".", ".."):
            raise BadRequest(f"path contains a {segment.strip()!r} segment")
        if not segment:
            raise BadRequest("path contains an empty segment ('//')")


def check_username(username: str) -> None:
    """A username that can name an output area (``<username>/``): BadRequest otherwise."""
    if (
        not username
        or "/" in username
        or "\\" in username
        or username in (".", "..")
        or any(unicodedata.category(ch) in ("Cc", "Cs") for ch in username)
    ):
        raise BadRequest("invalid username for an output area")
