"""Links in answers point where the operator says, not where a client's headers say (issue
10.11), on the real ``labcas-workflow-api serve``.

``output_url`` (run answers) and ``next`` / folder ``href`` (output listings) come from
``LABCAS_PUBLIC_URL`` when it is set; otherwise from the request's ``Host``, which must be one
of ``LABCAS_ALLOWED_HOSTS`` (by default ``127.0.0.1``, ``localhost``, ``::1`` and the public
URL's host), else the answer is a 400 problem. ``X-Forwarded-*`` are believed only from the
proxies in ``LABCAS_FORWARDED_ALLOW_IPS`` (none by default).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from labcas_workflow_api.auth.jwt import mint_token
from tests.security import raw
from tests.security.stack import SECRET, STAGING, ServeProcess, Stack, serve_process

pytestmark = pytest.mark.integration

DRY_RUN = ("POST", "/workflows/alpha/runs?dry_run=true", b'{"in_data_selection": "tiny"}')
LISTING = ("GET", "/output-data/links/?limit=1", b"")


def bearer(user: str) -> str:
    return f"Bearer {mint_token(SECRET, user)}"


HOSTILE_HOSTS = [
    "evil.example",
    "evil.example:443",
    "127.0.0.1.evil.example",
    "javascript:alert(1)//",
    "127.0.0.1@evil.example",
    "evil.example/127.0.0.1",
    "localhost:80#",
    "[::1]x",
    "",
]
FORWARDED = [
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Proto", "javascript"),
    ("X-Forwarded-Port", "1"),
    ("X-Forwarded-Host", "evil.example"),
    ("Forwarded", "host=evil.example;proto=https"),
]


@pytest.fixture(scope="module", autouse=True)
def outputs(stack: Stack) -> None:
    s3 = stack.s3_client(direct=True)
    for name in ("a.csv", "b.csv", "sub/c.csv"):
        s3.put_object(Bucket=STAGING, Key=f"eve/links/{name}", Body=b"1\n")


@pytest.fixture(scope="module")
def default(
    stack: Stack, config_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    with serve_process(stack, config_path, tmp_path_factory.mktemp("links")) as served:
        yield served


def send(
    served: ServeProcess, call: tuple[str, str, bytes], headers: list[tuple[str, str]]
) -> raw.RawResponse:
    method, target, body = call
    sent = [("Authorization", bearer("eve")), ("Content-Type", "application/json"), *headers]
    return raw.request(served.url, method, target, sent, body)  # type: ignore[arg-type]


def send_with_host(
    served: ServeProcess,
    call: tuple[str, str, bytes],
    host: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> raw.RawResponse:
    """``call`` with this ``Host`` line instead of the server's address."""
    method, target, body = call
    head = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    head += [f"Authorization: {bearer('eve')}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in extra]
    head.append(f"Content-Length: {len(body)}")
    payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    return raw.exchange(served.url, payload)


def links_of(answer: raw.RawResponse) -> list[str]:
    body = answer.json()
    found = [body.get("output_url"), body.get("next")]
    found += [f["href"] for f in body.get("folders", {}).values()]
    return [link for link in found if link]


@pytest.mark.parametrize("call", [DRY_RUN, LISTING], ids=["run", "listing"])
def test_links_follow_an_allowed_host(default: ServeProcess, call: tuple[str, str, bytes]) -> None:
    port = urlsplit(default.url).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        answer = send_with_host(default, call, host)
        assert answer.status == 200, answer.body
        links = links_of(answer)
        assert links and all(link.startswith(f"http://{host}/") for link in links), links


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
@pytest.mark.parametrize("call", [DRY_RUN, LISTING], ids=["run", "listing"])
def test_another_host_is_a_problem_not_a_link(
    default: ServeProcess, call: tuple[str, str, bytes], host: str
) -> None:
    answer = send_with_host(default, call, host)
    print(f"\nHost {host!r}: {answer.status} {answer.body[:200]!r}")
    assert answer.status == 400, answer.body
    assert answer.content_type.startswith("application/problem+json")
    assert b"evil" not in answer.body and b"javascript" not in answer.body


def test_health_needs_no_allowed_host(default: ServeProcess) -> None:
    """Load balancers probe with their own Host (an address): no link, no check."""
    answer = send_with_host(default, ("GET", "/healthz", b""), "10.1.2.3:8000")
    assert answer.status == 200


@pytest.mark.parametrize(("name", "value"), FORWARDED)
@pytest.mark.parametrize("call", [DRY_RUN, LISTING], ids=["run", "listing"])
def test_forwarded_headers_are_not_believed_by_default(
    default: ServeProcess, call: tuple[str, str, bytes], name: str, value: str
) -> None:
    answer = send(default, call, [(name, value)])
    assert answer.status == 200, answer.body
    links = links_of(answer)
    print(f"\n{name}: {value} -> {links[0]}")
    assert links and all(link.startswith(default.url + "/") for link in links), links


def test_the_public_url_decides_whatever_the_headers(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    public = "https://workflows.labcas.example.org/api"
    with serve_process(stack, config_path, tmp_path, LABCAS_PUBLIC_URL=public) as served:
        for call in (DRY_RUN, LISTING):
            answer = send_with_host(
                served,
                call,
                "evil.example",
                (("X-Forwarded-Proto", "http"), ("X-Forwarded-Port", "1")),
            )
            assert answer.status == 200, answer.body
            links = links_of(answer)
            assert links and all(link.startswith(public + "/") for link in links), links
        # the public URL's host is allowed as a Host too
        answer = send_with_host(served, DRY_RUN, "workflows.labcas.example.org")
        assert answer.status == 200


def test_forwarded_proto_from_a_named_proxy_is_believed(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    env = {
        "LABCAS_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "LABCAS_ALLOWED_HOSTS": "workflows.example.org",
    }
    with serve_process(stack, config_path, tmp_path, **env) as served:
        answer = send_with_host(
            served, DRY_RUN, "workflows.example.org", (("X-Forwarded-Proto", "https"),)
        )
        assert answer.status == 200, answer.body
        assert answer.json()["output_url"].startswith("https://workflows.example.org/output-data/")
        refused = send_with_host(served, DRY_RUN, "localhost")
        assert refused.status == 400, "an explicit list replaces the default one"
