"""The edge rules shared by the HTTP app and the Lambda handlers (``edge.py``)."""

from __future__ import annotations

import pytest

from labcas_workflow_api.edge import allowed_origin, is_username, problem_body, split_origins


@pytest.mark.parametrize("name", ["thomas", "d.liu", "a_b-c", "A1", "a" * 64])
def test_user_names_accepted(name: str) -> None:
    assert is_username(name)


@pytest.mark.parametrize(
    "name",
    ["thomas\n", "thomas\r\n", "\nthomas", "", ".x", "-x", "a b", "a" * 65, "thömas", None, 42],
)
def test_user_names_refused(name: object) -> None:
    assert not is_username(name)


def test_origins() -> None:
    assert split_origins(" https://a.org, ,https://b.org ") == ["https://a.org", "https://b.org"]
    assert split_origins(None) == []
    assert allowed_origin("https://a.org", ["https://a.org"]) == "https://a.org"
    assert allowed_origin("https://a.org", ["*"]) == "*"
    assert allowed_origin("https://evil.org", ["https://a.org"]) is None
    assert allowed_origin(None, ["*"]) is None
    assert allowed_origin("https://a.org\n", ["https://a.org"]) is None


def test_problem_body() -> None:
    assert problem_body(404, "Not found", "no such run", run_id="x") == (
        b'{"type": "about:blank", "title": "Not found", "status": 404, '
        b'"detail": "no such run", "run_id": "x"}'
    )
