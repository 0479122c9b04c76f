"""Access config from SSM and the JWT secret from Secrets Manager, served by moto server."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from labcas_workflow_api.access_source import AccessConfigSource
from labcas_workflow_api.auth import secrets
from labcas_workflow_api.auth.secrets import jwt_secret_provider
from labcas_workflow_api.cli import app
from labcas_workflow_api.domain.access import parse_access_config
from labcas_workflow_api.domain.errors import ConfigError
from labcas_workflow_api.settings import Settings
from tests.integration.api_fixtures import ACCESS_CONFIG

pytestmark = pytest.mark.integration
NAME = "/labcas/workflow/api/config"
EXPECTED = set(parse_access_config(ACCESS_CONFIG).collections)


def aws_client(service: str, moto_server: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_config_from_ssm_with_ttl_and_last_good(moto_server: Any) -> None:
    ssm = aws_client("ssm", moto_server)
    ssm.put_parameter(Name=NAME, Value=ACCESS_CONFIG, Type="SecureString", Overwrite=True)
    source = AccessConfigSource(f"ssm:{NAME}", ttl=0, ssm_client=ssm)
    assert set(source.get().collections) == EXPECTED
    ssm.put_parameter(
        Name=NAME, Value="collections: {x: {prefix: p}}", Type="SecureString", Overwrite=True
    )
    assert set(source.get().collections) == EXPECTED
    assert (
        source.last_error is not None
        and "collections.x.bucket: field required" in source.last_error
    )
    ssm.put_parameter(
        Name=NAME, Value="collections: {x: {bucket: b}}", Type="SecureString", Overwrite=True
    )
    assert set(source.get().collections) == {"x"}


def test_missing_ssm_parameter_is_reported(moto_server: Any) -> None:
    source = AccessConfigSource("ssm:/no/such/parameter", ssm_client=aws_client("ssm", moto_server))
    with pytest.raises(Exception, match="/no/such/parameter"):
        source.get()


def test_check_config_reads_ssm(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ssm = aws_client("ssm", moto_server)
    ssm.put_parameter(Name=NAME, Value=ACCESS_CONFIG, Type="SecureString", Overwrite=True)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    result = CliRunner().invoke(app, ["check-config", f"ssm:{NAME}"])
    assert result.exit_code == 0, result.output
    assert f"{len(EXPECTED)} data selection(s)" in result.output


def test_jwt_secret_from_secrets_manager(moto_server: Any) -> None:
    client = aws_client("secretsmanager", moto_server)
    arn = client.create_secret(Name="labcas-jwt-it", SecretString="from-secrets-manager")["ARN"]
    provider = jwt_secret_provider(Settings(jwt_secret_arn=arn), secretsmanager_client=client)
    assert provider() == "from-secrets-manager"


def test_no_secret_configured_names_the_variables() -> None:
    with pytest.raises(ConfigError, match="LABCAS_JWT_SECRET_ARN"):
        jwt_secret_provider(Settings(jwt_secret="", jwt_secret_file="", jwt_secret_arn=""))


def count_clients(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make ``boto3.client`` build clients of moto server, noting each service it makes one
    for in the list returned."""
    made: list[str] = []
    real_client = boto3.client

    def counting_client(service: str, **kwargs: Any) -> Any:
        made.append(service)
        return real_client(
            service,
            endpoint_url=moto_server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            **kwargs,
        )

    monkeypatch.setattr(boto3, "client", counting_client)
    return made


def test_one_ssm_client_per_source(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The config is re-read with the client made for the first read, not a new one each time."""
    ssm = aws_client("ssm", moto_server)
    ssm.put_parameter(Name=NAME, Value=ACCESS_CONFIG, Type="SecureString", Overwrite=True)
    made = count_clients(moto_server, monkeypatch)
    source = AccessConfigSource(f"ssm:{NAME}", ttl=0)
    for _ in range(3):
        assert set(source.get().collections) == EXPECTED
    assert len(made) == 1


def test_one_secrets_manager_client_per_secret(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-reads of the secret (rotation) use the client made for the first read."""
    rotator = aws_client("secretsmanager", moto_server)  # made before the counting starts
    arn = rotator.create_secret(Name="labcas-jwt-one-client", SecretString="s1")["ARN"]
    made = count_clients(moto_server, monkeypatch)
    monkeypatch.setattr(secrets, "_REFRESH_MIN_SECONDS", 0)
    provider = jwt_secret_provider(Settings(jwt_secret_arn=arn))
    assert provider() == "s1"
    rotator.put_secret_value(SecretId=arn, SecretString="s2")
    assert [provider.refresh() for _ in range(3)] == ["s2", "s2", "s2"]
    assert made == ["secretsmanager"]
