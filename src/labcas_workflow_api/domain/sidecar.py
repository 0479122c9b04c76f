"""Metadata sidecars: ``<data key>.cfg`` INI files with one section named after the data file."""

from __future__ import annotations

import configparser
import io
import logging
import re
import unicodedata

from labcas_workflow_api.domain.errors import BadRequest

log = logging.getLogger(__name__)

SUFFIX = ".cfg"
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 4096
MAX_NAME_LENGTH = 255
MAX_PROPERTIES = 256
MAX_SIDECAR_BYTES = 256 * 1024

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def sidecar_key(data_key: str) -> str:
    """The sidecar's key for a data file's key."""
    return data_key + SUFFIX


def _parser() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(
        delimiters=("=", ":"),
        comment_prefixes=("#", ";"),
        inline_comment_prefixes=None,
        strict=False,
        empty_lines_in_values=False,
        default_section="\x00no-default\x00",
        interpolation=None,
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    return parser


def parse(body: bytes | str, name: str, *, where: str = "") -> dict[str, str]:
    """The properties of data file ``name`` in a sidecar; ``{}`` when none can be read.

    Other sections are ignored. A malformed or undecodable file is logged and read as empty:
    one broken sidecar must not break a folder listing.
    """
    if isinstance(body, bytes):
        if len(body) > MAX_SIDECAR_BYTES:
            log.warning("sidecar %s ignored: larger than %d bytes", where or name, len(body))
            return {}
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            log.warning("sidecar %s ignored: not UTF-8", where or name)
            return {}
    else:
        text = body
    parser = _parser()
    try:
        parser.read_string(text, source=where or name)
    except configparser.Error as exc:
        log.warning("sidecar %s ignored: %s", where or name, str(exc).splitlines()[0])
        return {}
    if not parser.has_section(name):
        return {}
    return {key: value or "" for key, value in parser.items(name)}


def render(name: str, properties: dict[str, str]) -> bytes:
    """The sidecar of data file ``name``; ``BadRequest`` on an invalid name, key or value.

    INI values lose surrounding whitespace, so values are stored stripped.
    """
    check_data_name(name)
    check_properties(properties)
    parser = _parser()
    parser.add_section(name)
    for key, value in properties.items():
        parser.set(name, key, value.strip())
    out = io.StringIO()
    parser.write(out, space_around_delimiters=True)
    return out.getvalue().encode()


def check_data_name(name: str) -> None:
    """A plain data file name: not empty, no ``/``, not a sidecar, no control characters."""
    if not isinstance(name, str) or not name:
        raise BadRequest("file name must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"file name longer than {MAX_NAME_LENGTH} characters: {name[:40]!r}...")
    if "/" in name or "\\" in name:
        raise BadRequest(f"file name must not contain a slash: {name!r}")
    if name in (".", ".."):
        raise BadRequest(f"invalid file name: {name!r}")
    if name.endswith(SUFFIX):
        raise BadRequest(f"metadata sidecars cannot be annotated: {name!r}")
    if _has_control(name):
        raise BadRequest(f"file name contains control characters: {name!r}")


def check_key(key: str) -> None:
    """A property key: an identifier of bounded length."""
    if not isinstance(key, str) or not _IDENTIFIER.fullmatch(key):
        raise BadRequest(f"property key must be an identifier ([A-Za-z_][A-Za-z0-9_]*): {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"property key longer than {MAX_KEY_LENGTH} characters: {key[:40]!r}...")


def check_value(key: str, value: object) -> None:
    """A property value: a single-line string of bounded length, no control characters."""
    if not isinstance(value, str):
        raise BadRequest(f"property {key!r}: value must be a string")
    if len(value) > MAX_VALUE_LENGTH:
        raise BadRequest(f"property {key!r}: value longer than {MAX_VALUE_LENGTH} characters")
    if _has_control(value):
        raise BadRequest(
            f"property {key!r}: value must be a single line without control characters"
        )


def check_properties(properties: dict[str, str]) -> None:
    if not isinstance(properties, dict):
        raise BadRequest("properties must be an object of strings")
    if len(properties) > MAX_PROPERTIES:
        raise BadRequest(f"at most {MAX_PROPERTIES} properties per file")
    for key, value in properties.items():
        check_key(key)
        check_value(key, value)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)
