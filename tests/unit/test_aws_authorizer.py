"""The REQUEST authorizer: Allow with the username, Deny (403) for a user in no list,
``Exception("Unauthorized")`` (401) for any token problem, and a failure (500) for an outage."""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from botocore.stub import Stubber

from labcas_workflow_api.access_source import AccessConfigSource
from labcas_workflow_api.auth.jwt import TokenVerifier, mint_token
from labcas_workflow_api.auth.secrets import FixedSecret
from labcas_workflow_api.aws import authorizer as authorizer_module
from labcas_workflow_api.aws.authorizer import (
    Authorizer,
    AuthorizerUnavailable,
    api_resource,
    build_authorizer,
)
from labcas_workflow_api.deadline import LAMBDA_MARGIN, remaining
from labcas_workflow_api.settings import Settings
from tests.unit.fakes import CONFIG, SECRET, write_config
from tests.unit.test_aws_events import load_event, set_header
from tests.unit.test_deadline import LambdaContext, silent_port

__all__ = ["silent_port"]  # the fixture

STAGE_ARN = "arn:aws:execute-api:us-west-2:123456789012:k7xq2v9m1d/dev/*/*"


@pytest.fixture
def authorizer(tmp_path: Path) -> Authorizer:
    access = AccessConfigSource(str(write_config(tmp_path)), ttl=60)
    return Authorizer(TokenVerifier(FixedSecret(SECRET)), access)


def event_with(authorization: str | None, header_name: str = "authorization") -> dict[str, Any]:
    event = copy.deepcopy(load_event("authorizer_request.json"))
    set_header(event, "authorization", None)
    if authorization is not None:
        set_header(event, header_name, authorization)
    return event


def unauthorized(call: Any, *args: Any) -> None:
    """``call`` raises API Gateway's 401 signal: exactly ``Exception("Unauthorized")``."""
    with pytest.raises(Exception) as raised:
        call(*args)
    assert type(raised.value) is Exception
    assert str(raised.value) == "Unauthorized"


def effect(answer: dict[str, Any]) -> str:
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    return str(statement["Effect"])


class TestAllow:
    @pytest.mark.parametrize("header_name", ["Authorization", "authorization", "AUTHORIZATION"])
    @pytest.mark.parametrize("scheme", ["Bearer ", "bearer ", "BEARER ", ""])
    def test_valid_token_of_an_authorized_user(
        self, authorizer: Authorizer, header_name: str, scheme: str
    ) -> None:
        answer = authorizer.authorize(
            event_with(scheme + mint_token(SECRET, "thomas"), header_name)
        )
        assert effect(answer) == "Allow"
        assert answer["principalId"] == "thomas"
        assert answer["context"] == {"username": "thomas"}

    def test_the_policy_covers_every_method_of_the_stage(self, authorizer: Authorizer) -> None:
        answer = authorizer.authorize(event_with(f"Bearer {mint_token(SECRET, 'dliu')}"))
        assert answer["policyDocument"]["Statement"][0]["Resource"] == STAGE_ARN

    def test_only_multi_value_headers(self, authorizer: Authorizer) -> None:
        event = event_with(f"Bearer {mint_token(SECRET, 'thomas')}")
        event["headers"] = None
        assert effect(authorizer.authorize(event)) == "Allow"


def _token(**claims: Any) -> str:
    now = int(time.time())
    base = {"sub": "uid=thomas,dc=edrn", "iss": "LabCAS", "aud": "LabCAS", "exp": now + 60}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, algorithm="HS256")


def _unsigned_token() -> str:
    claims = {"sub": "thomas", "iss": "LabCAS", "aud": "LabCAS", "exp": int(time.time()) + 60}
    return jwt.encode(claims, None, algorithm="none")


class TestUnauthorized:
    """Every token problem is a 401, so that clients ask the user to sign in again."""

    @pytest.mark.parametrize(
        "authorization",
        [
            None,
            "",
            "Bearer",
            "Bearer not.a.token",
            "Basic dGhvbWFzOnNlY3JldA==",
            f"Bearer {mint_token('another-secret-0123456789abcdef0123', 'thomas')}",
            f"Bearer {mint_token(SECRET, 'thomas', ttl=-120)}",
            f"Bearer {_token(iss='Elsewhere')}",
            f"Bearer {_token(aud='Elsewhere')}",
            f"Bearer {_token(exp=None)}",
            f"Bearer {_token(sub='cn=admin,dc=edrn')}",
            f"Bearer {_token(sub='thomas' + chr(10))}",
            f"Bearer {_token(sub='uid=thomas' + chr(10) + ',dc=edrn')}",
            f"Bearer {_unsigned_token()}",
        ],
        ids=[
            "missing", "empty", "scheme-only", "malformed", "basic", "bad-signature", "expired",
            "issuer", "audience", "no-exp", "not-a-uid", "name-newline", "uid-newline", "alg-none",
        ],
    )  # fmt: skip
    def test_bad_tokens(self, authorizer: Authorizer, authorization: str | None) -> None:
        unauthorized(authorizer.authorize, event_with(authorization))

    @pytest.mark.parametrize("name", ["authorizer_no_token.json", "authorizer_expired_token.json"])
    def test_captured_events(self, authorizer: Authorizer, name: str) -> None:
        unauthorized(authorizer.authorize, load_event(name))

    def test_two_authorization_headers(self, authorizer: Authorizer) -> None:
        event = event_with(None)
        token = mint_token(SECRET, "thomas")
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}", f"Bearer {token}"]
        unauthorized(authorizer.authorize, event)

    @pytest.mark.parametrize(
        "event", [None, {}, [], "x", {"methodArn": 42, "headers": "x"}], ids=repr
    )
    def test_garbage_events(self, authorizer: Authorizer, event: Any) -> None:
        unauthorized(authorizer.authorize, event)


class TestDeny:
    """A valid token of a user named in no ``authorized_users`` list is a Deny (403)."""

    def test_a_user_in_no_authorized_users_list(self, authorizer: Authorizer) -> None:
        assert "mallory" not in CONFIG
        answer = authorizer.authorize(event_with(f"Bearer {mint_token(SECRET, 'mallory')}"))
        assert effect(answer) == "Deny"
        assert answer["principalId"] == "mallory"
        assert "context" not in answer
        assert answer["policyDocument"]["Statement"][0]["Resource"] == STAGE_ARN

    def test_the_captured_event(self, authorizer: Authorizer) -> None:
        assert effect(authorizer.authorize(load_event("authorizer_user_in_no_list.json"))) == "Deny"

    def test_the_policy_module_decides(
        self, authorizer: Authorizer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        asked: list[str] = []

        def has_any_access(config: Any, username: str) -> bool:
            asked.append(username)
            return False

        monkeypatch.setattr(authorizer_module, "has_any_access", has_any_access)
        answer = authorizer.authorize(event_with(f"Bearer {mint_token(SECRET, 'thomas')}"))
        assert (effect(answer), asked) == ("Deny", ["thomas"])


class TestOutage:
    """An outage is a failure (500, not cached), never a Deny that the gateway would cache."""

    def test_an_unreadable_access_config(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        broken = Authorizer(
            TokenVerifier(FixedSecret(SECRET)), AccessConfigSource(str(tmp_path / "none.yml"))
        )
        with caplog.at_level(logging.ERROR), pytest.raises(AuthorizerUnavailable):
            broken.authorize(event_with(f"Bearer {mint_token(SECRET, 'thomas')}"))
        assert [r for r in caplog.records if r.levelno == logging.ERROR]

    def test_an_empty_secret(self) -> None:
        broken = Authorizer(TokenVerifier(FixedSecret("")), AccessConfigSource("unused.yml"))
        with pytest.raises(AuthorizerUnavailable, match="empty"):
            broken.authorize(event_with(f"Bearer {mint_token(SECRET, 'thomas')}"))


def test_api_resource() -> None:
    assert (
        api_resource(
            "arn:aws:execute-api:us-west-2:123456789012:k7xq2v9m1d/dev/GET/output-data/a/b"
        )
        == STAGE_ARN
    )
    assert (
        api_resource("arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/prod/POST/")
        == "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/prod/*/*"
    )
    assert api_resource("arn:aws:s3:::bucket") == "*"


class TestFromSettings:
    """The secret from Secrets Manager and the config from SSM, read once and cached."""

    def _clients(self) -> tuple[Any, Any, Stubber, Stubber]:
        ssm = boto3.client("ssm", region_name="us-west-2")
        secrets = boto3.client("secretsmanager", region_name="us-west-2")
        ssm_stub, secrets_stub = Stubber(ssm), Stubber(secrets)
        ssm_stub.add_response(
            "get_parameter",
            {"Parameter": {"Name": "/labcas/config", "Type": "SecureString", "Value": CONFIG}},
            {"Name": "/labcas/config", "WithDecryption": True},
        )
        secrets_stub.add_response(
            "get_secret_value", {"SecretString": SECRET}, {"SecretId": "labcas/jwt"}
        )
        ssm_stub.activate()
        secrets_stub.activate()
        return ssm, secrets, ssm_stub, secrets_stub

    def test_allow_and_deny_with_one_read_of_each(self) -> None:
        ssm, secrets, ssm_stub, secrets_stub = self._clients()
        settings = Settings(
            config="ssm:/labcas/config",
            jwt_secret_arn="labcas/jwt",
            _env_file=None,  # type: ignore[call-arg]
        )
        authorizer = build_authorizer(settings, ssm_client=ssm, secretsmanager_client=secrets)
        for _ in range(3):
            allowed = authorizer.authorize(event_with(f"Bearer {mint_token(SECRET, 'dliu')}"))
            assert effect(allowed) == "Allow"
            denied = authorizer.authorize(event_with(f"Bearer {mint_token(SECRET, 'nobody')}"))
            assert effect(denied) == "Deny"
        ssm_stub.assert_no_pending_responses()
        secrets_stub.assert_no_pending_responses()

    @pytest.mark.parametrize(
        "failure", ["InternalServerError", "AccessDeniedException", "ResourceNotFoundException"]
    )
    def test_secrets_manager_unreadable_is_a_failure(
        self, failure: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        secrets = boto3.client("secretsmanager", region_name="us-west-2")
        with Stubber(secrets) as stub:
            stub.add_client_error("get_secret_value", failure)
            settings = Settings(jwt_secret_arn="labcas/jwt", _env_file=None)  # type: ignore[call-arg]
            authorizer = build_authorizer(settings, secretsmanager_client=secrets)
            with caplog.at_level(logging.ERROR), pytest.raises(AuthorizerUnavailable):
                authorizer.authorize(event_with(f"Bearer {mint_token(SECRET, 'thomas')}"))
        assert any("JWT secret" in r.getMessage() for r in caplog.records if r.levelno >= 40)

    def test_ssm_unreadable_is_a_failure(self) -> None:
        ssm = boto3.client("ssm", region_name="us-west-2")
        with Stubber(ssm) as stub:
            stub.add_client_error("get_parameter", "InternalServerError", http_status_code=500)
            settings = Settings(
                config="ssm:/labcas/config",
                jwt_secret=SECRET,
                _env_file=None,  # type: ignore[call-arg]
            )
            authorizer = build_authorizer(settings, ssm_client=ssm)
            with pytest.raises(AuthorizerUnavailable, match="/labcas/config"):
                authorizer.authorize(event_with(f"Bearer {mint_token(SECRET, 'thomas')}"))

    def test_a_good_config_read_before_outlives_an_outage(self) -> None:
        ssm = boto3.client("ssm", region_name="us-west-2")
        with Stubber(ssm) as stub:
            stub.add_response(
                "get_parameter",
                {"Parameter": {"Name": "/labcas/config", "Type": "SecureString", "Value": CONFIG}},
                {"Name": "/labcas/config", "WithDecryption": True},
            )
            stub.add_client_error("get_parameter", "InternalServerError", http_status_code=500)
            settings = Settings(
                config="ssm:/labcas/config",
                config_ttl=0,
                jwt_secret=SECRET,
                _env_file=None,  # type: ignore[call-arg]
            )
            authorizer = build_authorizer(settings, ssm_client=ssm)
            for _ in range(2):
                event = event_with(f"Bearer {mint_token(SECRET, 'thomas')}")
                assert effect(authorizer.authorize(event)) == "Allow"
            stub.assert_no_pending_responses()


class TestModuleHandler:
    def test_a_missing_secret_setting_is_a_failure(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("LABCAS_JWT_SECRET", "LABCAS_JWT_SECRET_FILE", "LABCAS_JWT_SECRET_ARN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(authorizer_module, "_authorizer", None)
        with pytest.raises(AuthorizerUnavailable, match="LABCAS_JWT_SECRET"):
            authorizer_module.handler(event_with(f"Bearer {mint_token(SECRET, 'x')}"), None)
        assert authorizer_module._authorizer is None

    def test_a_token_problem_through_the_handler_is_unauthorized(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("LABCAS_JWT_SECRET", SECRET)
        monkeypatch.setenv("LABCAS_CONFIG", str(write_config(tmp_path)))
        monkeypatch.setattr(authorizer_module, "_authorizer", None)
        unauthorized(authorizer_module.handler, load_event("authorizer_expired_token.json"), None)

    def test_built_once_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("LABCAS_JWT_SECRET", SECRET)
        monkeypatch.setenv("LABCAS_CONFIG", str(write_config(tmp_path)))
        monkeypatch.setattr(authorizer_module, "_authorizer", None)
        event = event_with(f"Bearer {mint_token(SECRET, 'thomas')}")
        assert effect(authorizer_module.handler(event, None)) == "Allow"
        first = authorizer_module._authorizer
        assert effect(authorizer_module.handler(event, None)) == "Allow"
        assert authorizer_module._authorizer is first


class TestDeadline:
    """Each event's reads fit in the invocation's remaining time less ``LAMBDA_MARGIN``."""

    def test_a_silent_ssm_is_a_failure_before_the_invocation_ends(
        self, monkeypatch: pytest.MonkeyPatch, silent_port: int
    ) -> None:
        for name, value in {
            "AWS_ENDPOINT_URL_SSM": f"http://127.0.0.1:{silent_port}",
            "AWS_DEFAULT_REGION": "us-west-2",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y",
        }.items():
            monkeypatch.setenv(name, value)
        settings = Settings(config="ssm:/labcas/config", jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
        monkeypatch.setattr(authorizer_module, "_authorizer", build_authorizer(settings))
        event = event_with(f"Bearer {mint_token(SECRET, 'thomas')}")
        began = time.monotonic()
        with pytest.raises(AuthorizerUnavailable, match="/labcas/config"):
            authorizer_module.handler(event, LambdaContext(2.5))
        assert time.monotonic() - began < 2.5 - LAMBDA_MARGIN + 0.2

    def test_without_a_lambda_context_the_configured_timeouts(
        self, authorizer: Authorizer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seen: list[float | None] = []
        monkeypatch.setattr(authorizer, "authorize", lambda event: seen.append(remaining()) or {})
        monkeypatch.setattr(authorizer_module, "_authorizer", authorizer)
        authorizer_module.handler({}, None)
        authorizer_module.handler({}, LambdaContext(9))
        assert seen[0] is None
        assert seen[1] is not None and 7 < seen[1] <= 9 - LAMBDA_MARGIN
