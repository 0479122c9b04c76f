"""``terraform plan`` of the example environment, offline: STS is moto server, state is local.

The plan evaluates every expression, the templatefile() of docs/openapi.yml, the IAM policy
documents and the module wiring, as it would against a real account; the provider comes from
the local mirror (tests/terraform_support.py: a failure under CI when terraform or the mirror
is missing). Every variable validation is shown to reject bad values the same way.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from labcas_workflow_api.devstack.moto import MotoServer
from tests.terraform_support import copy_tree, run_terraform

pytestmark = pytest.mark.integration

OVERRIDES = """
terraform {
  backend "local" {}
}

provider "aws" {
  region                      = var.aws_region
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true

  endpoints {
    sts = "%s"
  }
}
"""

#: Bad values, a few variables at a time (Terraform reports every invalid variable of a run).
BAD_VALUES = [
    {
        "allow_origin": "*",
        "engine": "mwaa3",
        "api_timeout": "30",
        "authorizer_ttl_seconds": "3601",
        "log_retention_days": "366",
        "stage": "dev-1",
        "minimum_compression_size": "10485761",
    },
    {
        "allow_origin": "https://a.example,https://b.example",
        "engine": "MWAA",
        "api_timeout": "1",
        "authorizer_ttl_seconds": "-1",
        "log_retention_days": "0",
        "stage": "s" * 25,
        "jwt_secret_arn": "labcas/workflow/api/jwt",
    },
    {
        "allow_origin": "https://a.example/ui",
        "api_timeout": "28.5",
        "log_retention_days": "2",
        "mwaa_env_name": "",
        "vpc_security_group_ids": "[]",
    },
    {
        "allow_origin": "edrn-labcas.jpl.nasa.gov",
        "staging_cors_extra_origins": '["*"]',
    },
]


@pytest.fixture(scope="module")
def work(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("terraform-plan")
    work = copy_tree(root)
    artifacts = root / "build" / "lambda"
    artifacts.mkdir(parents=True)
    for name in ("function.zip", "layer.zip"):
        with zipfile.ZipFile(artifacts / name, "w") as archive:
            archive.writestr("placeholder", name)
    (work / "override.tf").write_text(OVERRIDES % moto_server.endpoint_url)
    init = run_terraform(["init", "-input=false", "-lockfile=readonly"], work)
    assert init.returncode == 0, init.stdout + init.stderr
    return work


def plan(work: Path, name: str, *variables: str) -> dict[str, dict[str, Any]]:
    """The planned resources (address -> values after apply), every one a creation."""
    arguments = [f"-var={v}" for v in variables]
    result = run_terraform(["plan", "-input=false", f"-out={name}.bin", *arguments], work)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    shown = run_terraform(["show", "-json", f"{name}.bin"], work)
    changes = json.loads(shown.stdout)["resource_changes"]
    assert {c["change"]["actions"][0] for c in changes} == {"create"}
    return {c["address"]: c["change"]["after"] for c in changes}


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def policy_actions(resources: dict[str, dict[str, Any]], role: str) -> dict[str, set[str]]:
    """Statement id -> actions of a role's inline policy."""
    policy = json.loads(resources[f"module.iam[0].aws_iam_role_policy.{role}"]["policy"])
    return {s["Sid"]: set(_list(s["Action"])) for s in policy["Statement"]}


@pytest.fixture(scope="module")
def planned(work: Path) -> dict[str, dict[str, Any]]:
    return plan(work, "example")


class TestTheExampleEnvironment:
    def test_every_resource_is_planned(self, planned: dict[str, dict[str, Any]]) -> None:
        assert set(planned) == {
            "aws_s3_bucket_cors_configuration.staging[0]",
            "module.api_function.aws_cloudwatch_log_group.this",
            "module.api_function.aws_lambda_alias.live",
            "module.api_function.aws_lambda_function.this",
            "module.api_gateway.aws_api_gateway_deployment.this",
            "module.api_gateway.aws_api_gateway_method_settings.all",
            "module.api_gateway.aws_api_gateway_rest_api.this",
            "module.api_gateway.aws_api_gateway_stage.this",
            "module.api_gateway.aws_cloudwatch_log_group.access",
            "module.api_gateway.aws_cloudwatch_log_group.execution",
            "module.api_gateway.aws_lambda_permission.api",
            "module.api_gateway.aws_lambda_permission.authorizer",
            "module.authorizer_function.aws_cloudwatch_log_group.this",
            "module.authorizer_function.aws_lambda_alias.live",
            "module.authorizer_function.aws_lambda_function.this",
            "module.iam[0].aws_iam_role.api",
            "module.iam[0].aws_iam_role.authorizer",
            "module.iam[0].aws_iam_role_policy.api",
            "module.iam[0].aws_iam_role_policy.authorizer",
            "module.layer.aws_lambda_layer_version.this",
        }

    def test_names_carry_maturity_and_stage(self, planned: dict[str, dict[str, Any]]) -> None:
        for address, after in planned.items():
            name = after.get("name") or after.get("function_name") or after.get("layer_name")
            if name and "alias" not in address and "execution" not in address:
                assert "labcas-workflow-iac-dev-" in name, (address, name)

    def test_functions_publish_a_version_with_snapstart_and_time_out_before_the_gateway(
        self, planned: dict[str, dict[str, Any]]
    ) -> None:
        for function in ("api_function", "authorizer_function"):
            after = planned[f"module.{function}.aws_lambda_function.this"]
            assert after["publish"] is True
            assert after["snap_start"] == [{"apply_on": "PublishedVersions"}]
            assert after["runtime"] == "python3.13"
            assert after["timeout"] < 29
            alias = planned[f"module.{function}.aws_lambda_alias.live"]
            assert alias["name"] == "live"
        api = planned["module.api_function.aws_lambda_function.this"]
        assert api["timeout"] == 28
        assert api["handler"] == "labcas_workflow_api.aws.api.handler"
        assert api["environment"][0]["variables"]["LABCAS_CONFIG"].startswith("ssm:/")
        assert api["environment"][0]["variables"]["LABCAS_ENGINE"] == "mwaa"
        assert api["vpc_config"][0]["subnet_ids"]

    def test_api_gateway_invokes_the_aliases_from_the_stage(
        self, planned: dict[str, dict[str, Any]]
    ) -> None:
        permission = planned["module.api_gateway.aws_lambda_permission.api"]
        assert permission["qualifier"] == "live"
        assert permission["function_name"] == "labcas-workflow-iac-dev-api"
        authorizer = planned["module.api_gateway.aws_lambda_permission.authorizer"]
        assert authorizer["qualifier"] == "live"

    def test_the_stage(self, planned: dict[str, dict[str, Any]]) -> None:
        stage = planned["module.api_gateway.aws_api_gateway_stage.this"]
        assert stage["variables"] == {"allowOrigin": "https://edrn-labcas.jpl.nasa.gov"}
        assert stage["stage_name"] == "dev"
        rest_api = planned["module.api_gateway.aws_api_gateway_rest_api.this"]
        assert rest_api["minimum_compression_size"] == "1024"
        for group in ("access", "execution"):
            log_group = planned[f"module.api_gateway.aws_cloudwatch_log_group.{group}"]
            assert log_group["retention_in_days"] == 365
        settings = planned["module.api_gateway.aws_api_gateway_method_settings.all"]
        assert settings["settings"][0]["logging_level"] == "ERROR"

    def test_the_staging_bucket_lets_the_web_app_read_presigned_urls(
        self, planned: dict[str, dict[str, Any]]
    ) -> None:
        cors = planned["aws_s3_bucket_cors_configuration.staging[0]"]
        assert cors["bucket"] == "labcas-staging-dev"
        (rule,) = cors["cors_rule"]
        assert set(rule["allowed_methods"]) == {"GET", "HEAD"}
        assert rule["allowed_headers"] == ["Range"]

    def test_the_authorizer_role_reads_only_the_config_and_the_secret(
        self, planned: dict[str, dict[str, Any]]
    ) -> None:
        assert policy_actions(planned, "authorizer") == {
            "Tracing": {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
            "AccessConfig": {"ssm:GetParameter"},
            "JwtSecret": {"secretsmanager:GetSecretValue"},
            "OwnLogs": {"logs:CreateLogStream", "logs:PutLogEvents"},
            "NetworkInterfaces": {
                "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
            },
        }  # fmt: skip

    def test_the_api_role(self, planned: dict[str, dict[str, Any]]) -> None:
        actions = policy_actions(planned, "api")
        assert actions["MwaaAirflowRole"] == {
            "airflow:InvokeRestApi",
            "airflow:CreateWebLoginToken",
        }
        assert actions["MwaaEnvironment"] == {"airflow:GetEnvironment"}
        assert actions["StagingSidecars"] == {"s3:PutObject"}
        policy = json.loads(planned["module.iam[0].aws_iam_role_policy.api"]["policy"])
        resources = {s["Sid"]: _list(s["Resource"]) for s in policy["Statement"]}
        assert resources["OwnLogs"] == [
            "arn:aws:logs:us-west-2:123456789012:log-group:/aws/lambda/labcas-workflow-iac-dev-api:*"
        ]
        assert resources["StagingSidecars"] == ["arn:aws:s3:::labcas-staging-dev/*.cfg"]
        assert resources["MwaaAirflowRole"] == [
            "arn:aws:airflow:us-west-2:123456789012:role/labcas-airflow-dev/Op"
        ]
        every_resource = [r for rs in resources.values() for r in rs]
        assert not [r for r in every_resource if r.startswith("arn:aws:s3:::edrn")]


def test_web_login_outside_a_vpc_with_the_account_logging_role(work: Path) -> None:
    planned = plan(
        work,
        "variant",
        "engine=mwaa-web-login",
        "vpc_subnet_ids=[]",
        "vpc_security_group_ids=[]",
        "manage_api_gateway_account=true",
        "stage=qa",
    )
    actions = policy_actions(planned, "api")
    assert actions["MwaaAirflowRole"] == {"airflow:CreateWebLoginToken"}
    assert "NetworkInterfaces" not in actions
    assert "module.api_gateway_account[0].aws_api_gateway_account.this" in planned
    role = planned["module.api_gateway_account[0].aws_iam_role.this"]
    assert role["name"] == "labcas-workflow-iac-qa-apigw-logs"
    assert planned["module.api_function.aws_lambda_function.this"]["vpc_config"] == []


@pytest.mark.parametrize("bad", BAD_VALUES, ids=lambda bad: ",".join(bad))
def test_every_variable_validation_rejects_bad_values(work: Path, bad: dict[str, str]) -> None:
    arguments = [f"-var={name}={value}" for name, value in bad.items()]
    result = run_terraform(["plan", "-input=false", *arguments], work)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    errors = output.split("Error: ")[1:]
    assert errors and all(e.startswith("Invalid value for variable") for e in errors), output
    rejected = {m for e in errors for m in re.findall(r'variable "(\w+)" \{', e)[:1]}
    assert rejected == set(bad), output
