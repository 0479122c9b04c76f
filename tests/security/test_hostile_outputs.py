"""Hostile paths and bodies on /output-data, sent raw over HTTP to the API on the real S3 server.

Every answer is a 4xx (a problem+json one whenever it comes from the app rather than from the
HTTP layer refusing an unparseable request), the server stays up, and nothing is written
outside the caller's own area or in a shape other than a valid one-section INI sidecar.
"""

from __future__ import annotations

import base64
import configparser
import json

import pytest

from labcas_workflow_api import cursor
from tests.security import raw
from tests.security.stack import STAGING, Api, Stack

pytestmark = pytest.mark.integration

OWNER, OTHER = "thomas", "eve"
DATA_NAMES = ["data.csv", "weird]name.csv", "[x].csv", "DEFAULT", "ünïcode ✓.txt", "a=b.csv"]

# fmt: off
TRAVERSALS = [
    "..", "../", "../eve/", "a/../../eve/", "hostile/../../eve/",
    "%2e%2e", "%2E%2E/eve/", ".%2e/eve/", "%2e./eve/", "%2e%2e%2feve%2f",
    "%252e%252e/eve/", "%25252e%25252e/eve/", "%2525252e%2525252e/eve/",
    "%u002e%u002e/eve/", "%U002E%U002E/eve/",
    "%c0%ae%c0%ae/eve/", "%e0%80%ae%e0%80%ae/eve/", "%c0%2e%c0%2e/",
    "%ef%bc%8e%ef%bc%8e/eve/",  # fullwidth dots
    "%e2%80%a4%e2%80%a4/eve/",  # one-dot leaders (NFKC: '..')
    "..%2f..%2feve", "..%5c..%5ceve", "..%255ceve", ".. /eve/", "%20..%20/eve/",
    "./hostile/", "hostile/./", "hostile/.", ".",
]
ABSOLUTE = [
    "/etc/passwd", "//eve/", "%2feve%2f", "%2Feve/", "%252feve/",
    "C:/Windows/", "c:%5cwindows", "C%3a/x", "file:///etc/passwd",
]
BACKSLASHES = ["a\\b", "%5c", "hostile%5c..%5c..%5ceve", "%255c", "\\\\server\\share"]
CONTROL = ["%00", "a%00b", "hostile%00/", "%0d%0aX-Injected:%201", "%1b[31m", "a%7fb", "%e2%80%a8"]
ODD = ["a//b", "hostile//", "%ff%fe", "%", "%zz", "%%32%65%%32%65/eve/", "a" * 2000, "a/" * 600]

HOSTILE_TARGETS = [
    *(f"/output-data/{p}" for p in TRAVERSALS + ABSOLUTE + BACKSLASHES + CONTROL + ODD),
    "/output-data/../eve/", "/output-data/..%2feve", "/dev/output-data/%2e%2e/eve/",
    "/output-data/hostile/" + "x" * 100_000,
]
RAW_BYTE_TARGETS = [b"/output-data/a\x00b", b"/output-data/a b", b"/output-data/\xff\xfe"]
# fmt: on


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> set[str]:
    s3 = stack.s3_client(direct=True)
    for name in DATA_NAMES:
        s3.put_object(Bucket=STAGING, Key=f"{OWNER}/hostile/{name}", Body=b"1,2\n")
    s3.put_object(Bucket=STAGING, Key=f"{OTHER}/private/secret.csv", Body=b"secret\n")
    s3.put_object(
        Bucket=STAGING, Key=f"{OTHER}/private/secret.csv.cfg", Body=b"[secret.csv]\nk = v\n"
    )
    return _all_keys(stack)


def _all_keys(stack: Stack) -> set[str]:
    s3 = stack.s3_client(direct=True)
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=STAGING):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return keys


def _auth(api: Api, user: str = OWNER) -> list[tuple[str | bytes, str | bytes]]:
    return [("Authorization", f"Bearer {api.token(user)}")]


def _refused(answer: raw.RawResponse) -> str | None:
    """Why the answer is not a proper refusal, or None."""
    if not 400 <= answer.status < 500:
        return f"status {answer.status}: {answer.body[:200]!r}"
    if "x-request-id" in answer.headers:  # answered by the app, not by the HTTP parser
        if not answer.content_type.startswith("application/problem+json"):
            return f"{answer.status} without problem+json"
        if answer.json()["status"] != answer.status:
            return "problem status differs"
    return None


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_hostile_paths_are_refused(method: str, api: Api, stack: Stack, seeded: set[str]) -> None:
    body = json.dumps({"files": {"data.csv": {"properties": {"k": "v"}}}}).encode()
    wrong = []
    for target in [*HOSTILE_TARGETS, *RAW_BYTE_TARGETS]:
        answer = raw.request(api.url, method, target, _auth(api), body if method == "PUT" else b"")
        reason = _refused(answer)
        if reason:
            wrong.append(f"{target[:80]!r}: {reason}")
    assert not wrong, wrong
    assert raw.request(api.url, "GET", "/healthz").status == 200
    assert _all_keys(stack) == seeded


def test_other_users_prefixes_are_only_folders_of_mine(
    api: Api, stack: Stack, seeded: set[str]
) -> None:
    for target in (
        "/output-data/eve/",
        "/output-data/eve/private/",
        "/output-data/thomas/hostile/",
    ):
        answer = raw.request(api.url, "GET", target, _auth(api))
        assert answer.status == 404, (target, answer.body)
    answer = raw.request(
        api.url,
        "PUT",
        "/output-data/eve/private",
        _auth(api),
        json.dumps({"files": {"secret.csv": {"properties": {"k": "mine now"}}}}).encode(),
    )
    assert answer.status == 404
    assert _all_keys(stack) == seeded


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=-1",
        "limit=99999999999999999999",
        "limit=abc",
        "limit=1e3",
        "limit=1001",
        "cursor=!!!",
        "cursor=" + "A" * 5000,
        "cursor=" + "A" * 9000,
        "cursor=" + cursor.encode({"after": "../../eve/private/"}),
        "cursor=" + cursor.encode({"after": "../"}),
        "cursor=" + cursor.encode({"after": "eve/private/secret.csv"}),
        "cursor=" + cursor.encode({"after": ".."}),  # a name: the listing starts after it
        "cursor=" + cursor.encode({"after": "\u0000"}),
        "cursor=" + cursor.encode({"after": 123}),
        "cursor=" + cursor.encode({"c": "eve/private/", "a": ""}),
        "cursor=" + base64.urlsafe_b64encode(b"[1,2]").decode(),
        "limit=1&cursor=%00",
        "cursor=" + base64.urlsafe_b64encode(b"[" * 1500).decode(),  # nesting bomb
    ],
)
def test_hostile_paging_is_refused_or_stays_in_my_area(api: Api, query: str) -> None:
    answer = raw.request(api.url, "GET", f"/output-data/hostile/?{query}", _auth(api))
    if answer.status == 200:
        listing = answer.json()
        assert all(not name.startswith("secret") for name in listing["files"])
        assert listing["prefix"] == "hostile/"
    else:
        assert _refused(answer) is None, answer.body


BAD_BODIES: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("not JSON", b"{nope"),
    ("not UTF-8", b'{"files": {"\xff": {}}}'),
    ("a list", b"[]"),
    ("null", b"null"),
    ("files a list", b'{"files": ["data.csv"]}'),
    ("files empty", b'{"files": {}}'),
    ("extra field", b'{"files": {"data.csv": {"properties": {}}}, "x": 1}'),
    ("deep JSON array", b'{"files": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ("deep JSON object", b'{"files": ' + b'{"a":' * 40_000 + b"1" + b"}" * 40_000 + b"}"),
    (
        "deep properties",
        b'{"files": {"data.csv": {"properties": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}}",
    ),
    ("huge number", b'{"files": {"data.csv": {"properties": {"k": 1' + b"0" * 100_000 + b"}}}}"),
    ("NaN", b'{"files": {"data.csv": {"properties": {"k": NaN}}}}'),
    ("duplicate keys", b'{"files": {"data.csv": {"properties": {"k": "a", "k": "b\\n[x]"}}}}'),
]
BAD_FILES: list[tuple[str, object]] = [
    ("sidecar as target", {"data.csv.cfg": {"properties": {"k": "v"}}}),
    ("other sidecar", {"x.cfg": {"properties": {"k": "v"}}}),
    ("traversal name", {"../eve/private/secret.csv": {"properties": {"k": "v"}}}),
    ("dotdot name", {"..": {"properties": {"k": "v"}}}),
    ("dot name", {".": {"properties": {"k": "v"}}}),
    ("empty name", {"": {"properties": {"k": "v"}}}),
    ("slash name", {"sub/data.csv": {"properties": {"k": "v"}}}),
    ("backslash name", {"..\\eve": {"properties": {"k": "v"}}}),
    ("NUL name", {"data.csv\x00.cfg": {"properties": {"k": "v"}}}),
    ("newline name", {"data.csv\n[x]": {"properties": {"k": "v"}}}),
    ("long name", {"a" * 300: {"properties": {"k": "v"}}}),
    ("missing file", {"nope.csv": {"properties": {"k": "v"}}}),
    ("properties not an object", {"data.csv": {"properties": ["k"]}}),
    ("no properties", {"data.csv": {}}),
    ("too many files", {f"f{i}": {"properties": {}} for i in range(1001)}),
    ("too many properties", {"data.csv": {"properties": {f"k{i}": "v" for i in range(257)}}}),
]
BAD_PROPERTIES: list[tuple[str, dict[str, object]]] = [
    ("key with ]", {"a]b": "v"}),
    ("key a section", {"[section]": "v"}),
    ("key with =", {"key=val": "v"}),
    ("key with :", {"a:b": "v"}),
    ("key a comment", {"#comment": "v"}),
    ("key ;", {";x": "v"}),
    ("empty key", {"": "v"}),
    ("key with space", {"key with space": "v"}),
    ("key leading space", {" key": "v"}),
    ("key non-ASCII", {"ключ": "v"}),
    ("key digit first", {"1abc": "v"}),
    ("key too long", {"k" * 129: "v"}),
    ("value newline", {"k": "line1\nline2"}),
    ("value new section", {"k": "x\n[other]\nk2 = v"}),
    ("value CR", {"k": "a\rb"}),
    ("value NUL", {"k": "a\x00b"}),
    ("value tab", {"k": "a\tb"}),
    ("value NEL", {"k": "a\x85b"}),
    ("value line separator", {"k": "a\u2028b"}),
    ("value paragraph separator", {"k": "a\u2029b"}),
    ("value too long", {"k": "v" * 4097}),
    ("value a number", {"k": 1}),
    ("value null", {"k": None}),
    ("value a list", {"k": ["a"]}),
    ("value an object", {"k": {"a": "b"}}),
    ("value a bool", {"k": True}),
]


def _put(api: Api, target: str, body: bytes, headers: list | None = None) -> raw.RawResponse:
    return raw.request(api.url, "PUT", target, _auth(api) + (headers or []), body)


@pytest.mark.parametrize("name,body", BAD_BODIES, ids=[n for n, _ in BAD_BODIES])
def test_bad_bodies_are_400(
    name: str, body: bytes, api: Api, stack: Stack, seeded: set[str]
) -> None:
    answer = _put(api, "/output-data/hostile", body)
    assert answer.status == 400, answer.body[:300]
    assert _refused(answer) is None
    assert _all_keys(stack) == seeded


@pytest.mark.parametrize("name,files", BAD_FILES, ids=[n for n, _ in BAD_FILES])
def test_bad_file_entries_write_nothing(
    name: str, files: object, api: Api, stack: Stack, seeded: set[str]
) -> None:
    body = json.dumps({"files": {"data.csv": {"properties": {"ok": "1"}}, **files}}).encode()  # type: ignore[dict-item]
    answer = _put(api, "/output-data/hostile", body)
    assert answer.status in (400, 404), answer.body[:300]
    assert _refused(answer) is None
    assert _all_keys(stack) == seeded


@pytest.mark.parametrize("name,properties", BAD_PROPERTIES, ids=[n for n, _ in BAD_PROPERTIES])
def test_ini_breaking_properties_are_400(
    name: str, properties: dict[str, object], api: Api, stack: Stack, seeded: set[str]
) -> None:
    files = {"data.csv": {"properties": {"ok": "1"}}, "DEFAULT": {"properties": properties}}
    answer = _put(api, "/output-data/hostile", json.dumps({"files": files}).encode())
    assert answer.status == 400, answer.body[:300]
    assert _refused(answer) is None
    assert _all_keys(stack) == seeded


@pytest.mark.parametrize(
    "declared,sent",
    [(10**12, 0), (300_000, 300_000), (5_000_000, 5_000_000)],
    ids=["huge declared length", "over the limit", "far over the limit"],
)
def test_huge_bodies_are_413(declared: int, sent: int, api: Api) -> None:
    head = (
        f"PUT /output-data/hostile HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: Bearer {api.token(OWNER)}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    import socket

    port = api.url.rsplit(":", 1)[1]
    with socket.create_connection(("127.0.0.1", int(port)), timeout=30) as sock:
        sock.sendall(head)
        try:
            sent_so_far = 0
            while sent_so_far < sent:
                sock.sendall(b" " * 65536)
                sent_so_far += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed early: fine
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    assert data.startswith(b"HTTP/1.1 413"), data[:200]


def test_huge_chunked_body_is_413(api: Api) -> None:
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    head = (
        "PUT /output-data/hostile HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: Bearer {api.token(OWNER)}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    import socket

    port = int(api.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        try:
            for _ in range(20):
                sock.sendall(chunk)
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while part := sock.recv(65536):
                data += part
        except ConnectionResetError:
            pass
    assert data.startswith(b"HTTP/1.1 413"), data[:200]


TRICKY_VALUES = {
    "with_equals": "a = b",
    "with_colon": "x: y",
    "like_section": "[not a section]",
    "hash": "#not a comment",
    "semicolon": "; not a comment either",
    "percent": "%(interpolated)s %%",
    "unicode": "ünïcode ✓ 日本語",
    "quotes": "\"quoted\" 'single'",
    "html": "<script>alert(1)</script>",
    "empty": "",
    "DEFAULT": "section-like key name",
}


@pytest.mark.parametrize("name", DATA_NAMES)
def test_tricky_but_valid_properties_round_trip(name: str, api: Api, stack: Stack) -> None:
    body = json.dumps({"files": {name: {"properties": TRICKY_VALUES}}}).encode()
    answer = _put(api, "/output-data/hostile", body)
    assert answer.status == 200, answer.body
    listing = raw.request(api.url, "GET", "/output-data/hostile/", _auth(api)).json()
    assert listing["files"][name]["properties"] == TRICKY_VALUES
    stored = (
        stack.s3_client(direct=True)
        .get_object(Bucket=STAGING, Key=f"{OWNER}/hostile/{name}.cfg")["Body"]
        .read()
        .decode()
    )
    parser = configparser.RawConfigParser(default_section="\x00", interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(stored)
    assert parser.sections() == [name]
    assert dict(parser.items(name)) == TRICKY_VALUES
