"""The one cursor codec: opaque tokens, taken back only as they were made."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from labcas_workflow_api import cursor
from labcas_workflow_api.domain.errors import BadRequest


def _name(document: Any) -> str:
    if not isinstance(document, dict) or not isinstance(document.get("after"), str):
        raise TypeError(document)
    return str(document["after"])


@pytest.mark.parametrize(
    "document",
    [
        {"after": "a.png"},
        {"after": "é ü/\t\u0001"},
        ["2026-01-01T00:00:00+00:00", "run"],
        [1, None],
    ],
)
def test_round_trips(document: Any) -> None:
    token = cursor.encode(document)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert cursor.decode(token, lambda d: d) == document


def test_room_for_any_s3_key_escaped_in_json() -> None:
    """1,022 control characters (the longest name under ``u/``) escape to 6 bytes each."""
    token = cursor.encode({"after": "\u0001" * 1022})
    assert len(token) <= cursor.MAX_LENGTH
    with pytest.raises(ValueError, match="over"):
        cursor.encode({"after": "\u0001" * 1100})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!",
        "A",
        "A" * (cursor.MAX_LENGTH + 1),
        _b64(b'{"after":"a.png"}'),  # padded
        _b64(b'{"after": "a.png"}').rstrip("="),  # other spacing
        base64.b64encode(b'{"after":"a?>"}').decode().rstrip("="),  # standard alphabet
        _b64(b"\xff\xfe").rstrip("="),  # not UTF-8
        _b64(b"not json").rstrip("="),
        _b64(b"[" * 5000).rstrip("="),  # nesting bomb
        cursor.encode({"after": 5}),  # refused by the reader
        cursor.encode(["a", "b"]),
    ],
)
def test_anything_else_is_a_bad_request(token: str) -> None:
    with pytest.raises(BadRequest, match="invalid cursor"):
        cursor.decode(token, _name)


def test_the_reader_sees_the_document_as_encoded() -> None:
    token = cursor.encode({"after": "x"})
    assert json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == {"after": "x"}
    assert cursor.decode(token, _name) == "x"
