"""Parameter conversion and validation by JSON Schema, and the CLI's config resolution."""

from __future__ import annotations

import base64
import json
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from labcas_workflow_api import wire
from labcas_workflow_api.client.config import (
    read_config,
    resolve,
    token_claims,
    token_expiry,
    token_user,
    write_config,
)
from labcas_workflow_api.client.models import ParameterSpec, check_params, run_duration
from labcas_workflow_api.domain.models import RunStatus


def parameter(schema: dict[str, Any], default: Any = None) -> wire.Parameter:
    return wire.Parameter(default=default, description=None, required=False, schema=schema)


def spec(schema: dict[str, Any], default: Any = None) -> ParameterSpec:
    return ParameterSpec("p", parameter(schema, default))


@pytest.mark.parametrize(
    ("schema", "text", "value"),
    [
        ({"type": "integer"}, "42", 42),
        ({"type": "integer"}, "1e2", 100),
        ({"type": "number"}, "2.5", 2.5),
        ({"type": "number"}, "3", 3),
        ({"type": "boolean"}, "yes", True),
        ({"type": "boolean"}, "False", False),
        ({"type": "string"}, " keep spaces ", " keep spaces "),
        ({"type": "array", "items": {"type": "integer"}}, "1, 2,3", [1, 2, 3]),
        ({"type": "array"}, '["a", 1]', ["a", 1]),
        ({"type": "object"}, '{"a": 1}', {"a": 1}),
        ({"type": ["integer", "null"]}, "null", None),
        ({"enum": [1, 2]}, "2", 2),
        ({}, "x", "x"),
    ],
)
def test_values_are_converted_by_schema_type(schema: dict[str, Any], text: str, value: Any):
    assert spec(schema).convert(text) == value


def test_type_is_inferred_from_the_default_when_the_schema_has_none():
    assert spec({}, default=10).convert("12") == 12


@pytest.mark.parametrize(
    ("schema", "text", "message"),
    [
        ({"type": "integer"}, "3.5", "p must be a whole number, not '3.5'"),
        ({"type": "integer"}, "abc", "p must be a whole number"),
        ({"type": "number"}, "x", "p must be a number"),
        ({"type": "boolean"}, "maybe", "p must be true or false"),
        ({"type": "object"}, "[1]", "p must be a JSON object"),
        ({"type": "array"}, "[1", "p is not valid JSON"),
    ],
)
def test_unconvertible_values_are_refused(schema: dict[str, Any], text: str, message: str):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        spec(schema).convert(text)


@pytest.mark.parametrize(
    ("schema", "value", "problems"),
    [
        ({"type": "integer", "minimum": 8}, 4, ["p must be at least 8, not 4"]),
        ({"type": "integer", "maximum": 8}, 9, ["p must be at most 8, not 9"]),
        ({"type": "number", "exclusiveMinimum": 0}, 0, ["p must be more than 0, not 0"]),
        ({"type": "string", "enum": ["a", "b"]}, "c", ['p must be one of "a", "b"']),
        ({"type": "string", "maxLength": 2}, "abc", ["p must have at most 2 characters"]),
        ({"type": "string", "pattern": "^[a-z]+$"}, "A1", ["p must match ^[a-z]+$"]),
        ({"type": "integer"}, "5", ["p must be of type integer, not string"]),
        ({"type": "integer"}, True, ["p must be of type integer, not boolean"]),
        ({"type": "array", "minItems": 1}, [], ["p must have at least 1 items"]),
        ({"type": "integer", "minimum": 8}, 8, []),
        ({"type": ["null", "integer"]}, None, []),
        ({"type": "number"}, 3, []),
    ],
)
def test_validation_names_the_parameter(schema: dict[str, Any], value: Any, problems: list[str]):
    assert spec(schema).problems(value) == problems


def test_several_problems_are_all_named():
    problems = spec({"type": "string", "minLength": 3, "pattern": "^[a-z]+$"}).problems("A")
    assert problems == ["p must have at least 3 characters", "p must match ^[a-z]+$"]


def test_a_schema_that_is_not_json_schema_is_left_to_the_server():
    assert spec({"type": "integer", "minimum": "five"}).problems(1) == []


def test_unknown_parameters_name_the_known_ones():
    detail = wire.WorkflowDetail(
        id="w",
        description=None,
        parameters={"a": parameter({"type": "integer"}), "b": parameter({})},
        schedule=None,
        paused=False,
        data_selections=[],
    )
    assert check_params(detail, {"a": "x", "c": 1}) == [
        "a must be of type integer, not string",
        "unknown parameter 'c' (parameters of w: a, b)",
    ]


def test_bounds_are_summarised_for_people():
    assert spec({"type": "integer", "minimum": 8, "maximum": 64}).bounds_text() == ">= 8, <= 64"


def test_running_run_duration_counts_to_now():
    run = wire.Run(
        run_id="r",
        workflow_id="w",
        status=RunStatus.RUNNING,
        start_time=datetime(2000, 1, 1, tzinfo=UTC),
        end_time=None,
        output_url=None,
        output_folder=None,
        conf={},
    )
    assert (run_duration(run) or 0) > 1e8


def _jwt(payload: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{body}.sig"


class TestTokens:
    def test_user_from_ldap_dn(self):
        claims = token_claims(_jwt({"sub": "uid=thomas,dc=edrn,dc=jpl,dc=nasa,dc=gov"}))
        assert token_user(claims) == "thomas"

    def test_username_claim_wins(self):
        assert token_user({"username": "dliu", "sub": "uid=x,dc=y"}) == "dliu"

    def test_expiry(self):
        exp = int(time.time()) + 60
        assert (token_expiry(token_claims(_jwt({"exp": exp}))) or _never()).timestamp() == exp

    @pytest.mark.parametrize("token", ["", "nodots", "a.!!!.c", "a.bnVsbA.c"])
    def test_garbage_tokens_have_no_claims(self, token: str):
        assert token_claims(token) == {}


def _never():  # pragma: no cover
    raise AssertionError


class TestConfig:
    @pytest.fixture(autouse=True)
    def _home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
        monkeypatch.setenv("HOME", str(tmp_path))

    def test_config_file_is_private(self, tmp_path: Path):
        path = write_config({"api_url": "http://x", "token": "t"})
        assert path.is_relative_to(tmp_path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert read_config() == {"api_url": "http://x", "token": "t"}

    def test_options_win_over_environment_over_file(self):
        write_config({"api_url": "http://file", "token": "file-token"})
        env = {"LABCAS_API_URL": "http://env/", "LABCAS_TOKEN": "env-token"}
        assert resolve("http://opt", "opt-token", env).api_url == "http://opt"
        conn = resolve(None, None, env)
        assert (conn.api_url, conn.token, conn.source_token) == (
            "http://env",
            "env-token",
            "LABCAS_TOKEN",
        )
        conn = resolve(None, None, {})
        assert (conn.api_url, conn.token) == ("http://file", "file-token")

    def test_nothing_configured(self):
        conn = resolve(None, None, {})
        assert conn.api_url is None and conn.token is None

    def test_unreadable_config_is_a_clear_error(self, tmp_path: Path):
        path = write_config({})
        path.write_text("{not json")
        with pytest.raises(ValueError, match="cannot read"):
            read_config()
