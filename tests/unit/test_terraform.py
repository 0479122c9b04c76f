"""Offline checks of terraform/: what Terraform and checkov find, and what they cannot.

Python checks that every file parses, every variable used is declared (and every declared one
used), every module input exists, every resource is named after the maturity and the stage,
and that the IAM roles grant what the code calls and nothing more. Then ``terraform`` itself,
against the provider mirror of the machine (tests/terraform_support.py, no network): ``init
-backend=false`` with the committed lock file, ``validate``, ``fmt -check``, and
``templatefile()`` rendering docs/openapi.yml as the Python rendering does. checkov must find
nothing that is not skipped with a reason. The plan (with STS from moto server) and the
variable validations are in tests/integration/test_aws_terraform_plan.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from tests.terraform_support import (
    ENVIRONMENT,
    OPENAPI,
    TERRAFORM,
    blocks,
    copy_tree,
    parse,
    render_openapi,
    resource,
    run_terraform,
    unquote,
)

MODULES = sorted(p for p in (TERRAFORM / "modules").iterdir() if p.is_dir())
ENVIRONMENTS = sorted(p for p in (TERRAFORM / "environments").iterdir() if p.is_dir())
ROOTS = MODULES + ENVIRONMENTS
TF_FILES = sorted(TERRAFORM.rglob("*.tf"))
META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = Path.home() / ".cache" / "labcas" / f"checkov-{CHECKOV_VERSION}"


def _locals(directory: Path) -> set[str]:
    names: set[str] = set()
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get("locals", []):
            names |= {k for k in block if not k.startswith("__")}
    return names


def _code(directory: Path) -> str:
    """The .tf text of a directory without comments."""
    text = "\n".join(p.read_text() for p in sorted(directory.glob("*.tf")))
    return re.sub(r"(?m)^\s*#.*$|\s#[^\"\n]*$", "", text)


def _variables(directory: Path) -> dict[str, dict[str, Any]]:
    return blocks(directory, "variable")


def _module_dir(root: Path, body: dict[str, Any]) -> Path:
    return (root / unquote(body["source"])).resolve()


def _unquoted(block: dict[str, Any]) -> dict[str, Any]:
    """A block's attributes with python-hcl2's quotes removed from strings and string lists."""
    return {
        key: [unquote(v) for v in value] if isinstance(value, list) else unquote(value)
        for key, value in block.items()
    }


def _hcl_file(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return {k: v for k, v in hcl2.load(handle).items() if not k.startswith("__")}


class TestHcl:
    @pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM)))
    def test_every_tf_file_parses(self, path: Path) -> None:
        assert isinstance(parse(path), dict)

    @pytest.mark.parametrize("directory", ROOTS, ids=lambda p: p.name)
    def test_every_variable_used_is_declared_and_every_declared_one_used(
        self, directory: Path
    ) -> None:
        used = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)", _code(directory)))
        declared = set(_variables(directory))
        assert used - declared == set(), "used but not declared"
        assert declared - used == set(), "declared but never used"

    @pytest.mark.parametrize("directory", ROOTS, ids=lambda p: p.name)
    def test_every_local_used_is_defined(self, directory: Path) -> None:
        used = set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)", _code(directory)))
        assert used - _locals(directory) == set()

    @pytest.mark.parametrize("directory", ROOTS, ids=lambda p: p.name)
    def test_every_variable_has_a_type_and_a_description(self, directory: Path) -> None:
        for name, body in _variables(directory).items():
            assert "type" in body and "description" in body, name

    @pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
    def test_module_inputs_exist_and_required_ones_are_given(self, environment: Path) -> None:
        for name, body in blocks(environment, "module").items():
            module = _module_dir(environment, body)
            assert module.is_dir(), f"module {name}: no {module}"
            variables = _variables(module)
            given = {k for k in body if not k.startswith("__")} - META_ARGUMENTS
            assert given - set(variables) == set(), f"module {name}: unknown inputs"
            required = {v for v, spec in variables.items() if "default" not in spec}
            assert required - given == set(), f"module {name}: missing inputs"

    @pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
    def test_module_outputs_used_exist(self, environment: Path) -> None:
        modules = blocks(environment, "module")
        used = re.findall(r"\bmodule\.(\w+)(?:\[\d+\])?\.(\w+)", _code(environment))
        for module, output in used:
            assert module in modules, module
            outputs = blocks(_module_dir(environment, modules[module]), "output")
            assert output in outputs, f"module.{module}.{output}"

    @pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
    def test_tfvars_set_declared_variables_and_every_required_one(self, environment: Path) -> None:
        values = _hcl_file(environment / "terraform.tfvars")
        variables = _variables(environment)
        assert set(values) - set(variables) == set()
        required = {v for v, spec in variables.items() if "default" not in spec}
        assert required - set(values) == set()
        assert unquote(values["maturity"]) in ("poc", "iac", "ops")

    @pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
    def test_remote_state_is_locked_with_a_lock_file(self, environment: Path) -> None:
        blocks_ = [b for path in environment.glob("*.tf") for b in parse(path).get("terraform", [])]
        assert any("backend" in b for b in blocks_)
        backend = _hcl_file(environment / "backend.hcl")
        assert {"bucket", "key", "region"} <= set(backend)
        assert backend["use_lockfile"] is True
        assert "dynamodb_table" not in backend, "S3 native locking (use_lockfile) replaces it"

    @pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
    def test_the_provider_lock_file_is_committed(self, environment: Path) -> None:
        lock = (environment / ".terraform.lock.hcl").read_text()
        assert 'provider "registry.terraform.io/hashicorp/aws"' in lock

    def test_maturity_and_stage_are_in_every_resource_name(self) -> None:
        for environment in ENVIRONMENTS:
            assert re.search(
                r'prefix\s*=\s*"labcas-workflow-\$\{var\.maturity\}-\$\{var\.stage\}"',
                _code(environment),
            )
            for name, body in blocks(environment, "module").items():
                for key in ("name", "name_prefix", "role_name"):
                    if key in body:
                        assert re.search(r"local\.(prefix|api_name|authz_name)", body[key]), name
        # An alias is named within its function, whose name carries maturity and stage.
        named_by_caller = (
            r"var\.(name|name_prefix|role_name|api_function_name|authorizer_function_name"
            r"|alias_name)\b|aws_api_gateway_rest_api\.this\.id"
            r"|aws_lambda_function\.this\.function_name"
        )
        for module in MODULES:
            code = _code(module)
            for match in re.finditer(
                r"^\s*(name|function_name|layer_name)\s*=\s*(.+)$", code, re.M
            ):
                assert re.search(named_by_caller, match.group(2)), f"{module.name}: {match[0]}"


class TestLambdaAndGateway:
    """The settings API Gateway and Lambda need to behave as the API expects."""

    def test_functions_publish_versions_with_snapstart_behind_an_alias(self) -> None:
        module = TERRAFORM / "modules" / "lambda_function"
        function = resource(module, "aws_lambda_function", "this")
        assert function["publish"] is True
        (snap_start,) = function["dynamic"][0]['"snap_start"']["content"]
        assert unquote(snap_start["apply_on"]) == "PublishedVersions"
        alias = resource(module, "aws_lambda_alias", "live")
        assert alias["function_version"] == "${aws_lambda_function.this.version}"
        runtime = _variables(module)["runtime"]
        assert unquote(runtime["default"]) in ("python3.12", "python3.13"), "SnapStart for Python"

    def test_api_gateway_invokes_the_aliases(self) -> None:
        gateway = blocks(ENVIRONMENT, "module")["api_gateway"]
        assert gateway["api_invoke_arn"] == "${module.api_function.alias_invoke_arn}"
        assert gateway["authorizer_invoke_arn"] == "${module.authorizer_function.alias_invoke_arn}"
        module = TERRAFORM / "modules" / "api_gateway"
        for name in ("api", "authorizer"):
            permission = resource(module, "aws_lambda_permission", name)
            assert permission["qualifier"] == f"${{var.{name}_alias_name}}"

    def test_the_api_function_times_out_before_the_gateway(self) -> None:
        gateway = blocks(ENVIRONMENT, "module")["api_gateway"]
        function = blocks(ENVIRONMENT, "module")["api_function"]
        assert gateway["integration_timeout_seconds"] == "${var.api_timeout}"
        assert function["timeout"] == "${local.api_function_timeout}"
        assert re.search(r"api_function_timeout\s*=\s*var\.api_timeout\s*-\s*1", _code(ENVIRONMENT))

    def test_the_authorizers_reads_fit_its_timeout(self) -> None:
        """One SSM or Secrets Manager read, every try and pause included, ends before Lambda
        ends the authorizer (less the margin kept to answer); ``deadline.py`` fits the
        second read of a cold start into what the first left."""
        from labcas_workflow_api import access_source
        from labcas_workflow_api.deadline import LAMBDA_MARGIN, worst_case

        timeout = int(blocks(ENVIRONMENT, "module")["authorizer_function"]["timeout"])
        one_read = worst_case(
            access_source.AWS_CONNECT_TIMEOUT,
            access_source.AWS_READ_TIMEOUT,
            access_source.AWS_ATTEMPTS,
        )
        assert one_read <= timeout - LAMBDA_MARGIN

    def test_compression_is_on(self) -> None:
        rest_api = resource(
            TERRAFORM / "modules" / "api_gateway", "aws_api_gateway_rest_api", "this"
        )
        assert "minimum_compression_size" in rest_api
        assert _variables(ENVIRONMENT)["minimum_compression_size"]["default"] == 1024

    def test_the_execution_log_group_is_created_with_a_retention_before_logging(self) -> None:
        module = TERRAFORM / "modules" / "api_gateway"
        group = resource(module, "aws_cloudwatch_log_group", "execution")
        assert unquote(group["name"]).startswith(
            "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api"
        )
        assert group["retention_in_days"] == "${var.log_retention_days}"
        settings = resource(module, "aws_api_gateway_method_settings", "all")
        assert "${aws_cloudwatch_log_group.execution}" in settings["depends_on"]

    def test_the_handlers_are_the_aws_entry_points(self) -> None:
        handlers = {
            name: unquote(body["handler"])
            for name, body in blocks(ENVIRONMENT, "module").items()
            if "handler" in body
        }
        assert handlers == {
            "api_function": "labcas_workflow_api.aws.api.handler",
            "authorizer_function": "labcas_workflow_api.aws.authorizer.handler",
        }


class TestLeastPrivilege:
    """What each role may do, read from the policy documents of terraform/modules/iam."""

    @staticmethod
    def _statements(document: str) -> dict[str, dict[str, Any]]:
        """Statements of `data "aws_iam_policy_document" "<document>"` by sid (dynamic ones too)."""
        found: dict[str, dict[str, Any]] = {}
        for block in parse(TERRAFORM / "modules" / "iam" / "main.tf").get("data", []):
            documents = block.get('"aws_iam_policy_document"', {})
            spec = documents.get(f'"{document}"', {})
            for statement in spec.get("statement", []):
                found[unquote(statement["sid"])] = _unquoted(statement)
            for dynamic in spec.get("dynamic", []):
                content = dynamic['"statement"']["content"][0]
                found[unquote(content["sid"])] = _unquoted(content)
        assert found, f"no policy document {document}"
        return found

    def test_no_role_reads_the_collection_buckets(self) -> None:
        code = _code(TERRAFORM / "modules" / "iam") + _code(ENVIRONMENT)
        assert "collection_bucket" not in code

    def test_each_role_writes_only_its_own_log_group(self) -> None:
        for role in ("api", "authorizer"):
            (logs,) = self._statements(role)["OwnLogs"]["resources"]
            assert logs == f"${{local.log_groups}}/${{var.{role}_function_name}}:*"

    def test_the_api_writes_only_sidecars_to_the_staging_bucket(self) -> None:
        statements = self._statements("api")
        assert statements["StagingSidecars"]["actions"] == ["s3:PutObject"]
        assert statements["StagingSidecars"]["resources"] == ["${local.staging_bucket_arn}/*.cfg"]
        assert statements["StagingRead"]["actions"] == ["s3:GetObject"]
        assert statements["StagingList"]["actions"] == ["s3:ListBucket"]

    def test_the_mwaa_engine_may_invoke_the_rest_api_and_log_in(self) -> None:
        code = _code(TERRAFORM / "modules" / "iam")
        assert re.search(
            r'"mwaa"\s*=\s*\["airflow:InvokeRestApi",\s*"airflow:CreateWebLoginToken"\]', code
        )
        assert re.search(r'"mwaa-web-login"\s*=\s*\["airflow:CreateWebLoginToken"\]', code)
        statements = self._statements("api")
        assert statements["MwaaEnvironment"]["actions"] == ["airflow:GetEnvironment"]

    def test_no_managed_policy_grants_logs_everywhere(self) -> None:
        code = _code(TERRAFORM / "modules" / "iam")
        assert "AWSLambdaVPCAccessExecutionRole" not in code
        assert "aws_iam_role_policy_attachment" not in code
        vpc = self._statements("vpc")["NetworkInterfaces"]
        assert all(action.startswith("ec2:") for action in vpc["actions"])


class TestTerraformBinary:
    """terraform itself, offline, with the AWS provider of the local mirror."""

    @pytest.fixture(scope="class")
    @classmethod
    def work(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        work = copy_tree(tmp_path_factory.mktemp("terraform"))
        init = run_terraform(["init", "-backend=false", "-input=false", "-lockfile=readonly"], work)
        assert init.returncode == 0, init.stdout + init.stderr
        return work

    def test_the_version_on_path_satisfies_the_configuration(self) -> None:
        result = run_terraform(["version", "-json"], ENVIRONMENT)
        version = json.loads(result.stdout)["terraform_version"]
        assert tuple(int(p) for p in version.split(".")[:2]) >= (1, 10), version

    def test_fmt(self) -> None:
        result = run_terraform(["fmt", "-recursive", "-check", "-diff"], TERRAFORM)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_validate(self, work: Path) -> None:
        result = run_terraform(["validate"], work)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr

    def test_templatefile_renders_like_the_python_rendering(self, tmp_path: Path) -> None:
        values = {
            "api_invoke_arn": "arn:a",
            "authorizer_invoke_arn": "arn:b",
            "authorizer_ttl_seconds": "300",
            "integration_timeout_ms": "28000",
        }
        terraform_values = ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
        terraform_values = terraform_values.replace('"300"', "300").replace('"28000"', "28000")
        expression = f'jsonencode(yamldecode(templatefile("{OPENAPI}", {{{terraform_values}}})))'
        result = run_terraform(["console"], tmp_path, stdin=expression + "\n", timeout=120)
        assert result.returncode == 0, result.stderr
        rendered = json.loads(json.loads(result.stdout.strip()))
        expected = yaml.safe_load(render_openapi(values))
        assert rendered == json.loads(json.dumps(expected))


def _checkov() -> Path:
    """checkov in its own cached virtualenv: its pins (boto3, packaging) clash with ours."""
    binary = CHECKOV_VENV / "bin" / "checkov"
    if binary.exists():
        return binary
    CHECKOV_VENV.parent.mkdir(parents=True, exist_ok=True)
    created = subprocess.run(
        [sys.executable, "-m", "venv", "--clear", str(CHECKOV_VENV)],
        capture_output=True,
        text=True,
    )
    installed = created.returncode == 0 and (
        subprocess.run(
            [str(CHECKOV_VENV / "bin" / "pip"), "install", "-q", f"checkov=={CHECKOV_VERSION}"],
            capture_output=True,
            text=True,
            timeout=900,
        ).returncode
        == 0
    )
    if not installed:
        shutil.rmtree(CHECKOV_VENV, ignore_errors=True)
        pytest.skip("checkov cannot be installed from the package registry here")
    return binary


def test_checkov_finds_nothing_that_is_not_skipped_with_a_reason() -> None:
    result = subprocess.run(
        [str(_checkov()), "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download",
         "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
    )  # fmt: skip
    report = json.loads(result.stdout)
    failed = [
        (c["check_id"], c["check_name"], c["resource"]) for c in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    for check in report["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} on {check['resource']}: no reason given"
