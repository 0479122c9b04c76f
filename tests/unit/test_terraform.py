"""Offline checks of terraform/ and of the API Gateway template in docs/openapi.yml.

No provider can be downloaded here, so what Terraform itself would check is checked in Python:
every file parses, every variable used is declared, every module input exists, the OpenAPI
template renders into a valid OpenAPI 3 document using only the variables Terraform passes,
and checkov finds nothing that is not skipped with a reason. When a `terraform` binary (and a
local provider mirror) happens to be installed, `fmt`, `validate` and `templatefile()` are run
too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
OPENAPI = ROOT / "docs" / "openapi.yml"
MODULES = sorted(p for p in (TERRAFORM / "modules").iterdir() if p.is_dir())
ENVIRONMENTS = sorted(p for p in (TERRAFORM / "environments").iterdir() if p.is_dir())
ROOTS = MODULES + ENVIRONMENTS
TF_FILES = sorted(TERRAFORM.rglob("*.tf"))
META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
TEMPLATE_VAR_RE = re.compile(r"\$\{([^}]*)\}")
PROVIDER_MIRROR = Path(os.environ.get("LABCAS_TF_PLUGIN_DIR", "/opt/tf-plugins"))
CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = Path.home() / ".cache" / "labcas" / f"checkov-{CHECKOV_VERSION}"


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@cache
def _parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


def _blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Labelled blocks (`variable "x" {}`, `module "y" {}`, `output "z" {}`) of a directory."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in _parse(path).get(kind, []):
            for label, body in block.items():
                found[_unquote(label)] = body
    return found


def _locals(directory: Path) -> set[str]:
    names: set[str] = set()
    for path in sorted(directory.glob("*.tf")):
        for block in _parse(path).get("locals", []):
            names |= {k for k in block if not k.startswith("__")}
    return names


def _code(directory: Path) -> str:
    """The .tf text of a directory without comments."""
    text = "\n".join(p.read_text() for p in sorted(directory.glob("*.tf")))
    return re.sub(r"(?m)^\s*#.*$|\s#[^\"\n]*$", "", text)


def _variables(directory: Path) -> dict[str, dict[str, Any]]:
    return _blocks(directory, "variable")


def _module_dir(root: Path, body: dict[str, Any]) -> Path:
    return (root / _unquote(body["source"])).resolve()


def _template_variables() -> dict[str, str]:
    """The map passed to templatefile() for docs/openapi.yml in the api_gateway module."""
    for block in _parse(TERRAFORM / "modules" / "api_gateway" / "main.tf").get("locals", []):
        body = block.get("openapi_body")
        if body:
            match = re.search(r"templatefile\(var\.openapi_path,\s*\{(.*)\}\)", body, re.S)
            assert match, body
            pairs = re.findall(r"(\w+)\s*=\s*(var\.\w+)", match.group(1))
            return dict(pairs)
    raise AssertionError("api_gateway module has no openapi_body local")


def render_openapi(values: dict[str, str] | None = None) -> str:
    """docs/openapi.yml as templatefile() renders it, with example values."""
    names = _template_variables()
    examples = {
        "api_invoke_arn": "arn:aws:apigateway:us-west-2:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-west-2:123456789012:function:labcas-workflow-iac-api/invocations",
        "authorizer_invoke_arn": "arn:aws:apigateway:us-west-2:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-west-2:123456789012:function:labcas-workflow-iac-authorizer/invocations",
        "authorizer_ttl_seconds": "300",
        **(values or {}),
    }
    text = OPENAPI.read_text()
    assert "%{" not in text, "templatefile() would read %{ as a directive; write %%{"

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        assert name in names, f"docs/openapi.yml uses ${{{name}}}, not passed by Terraform"
        return examples[name]

    rendered = TEMPLATE_VAR_RE.sub(substitute, text.replace("$${", "\0"))
    return rendered.replace("\0", "${")


class TestHcl:
    @pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM)))
    def test_every_tf_file_parses(self, path: Path) -> None:
        assert isinstance(_parse(path), dict)

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
        for name, body in _blocks(environment, "module").items():
            module = _module_dir(environment, body)
            assert module.is_dir(), f"module {name}: no {module}"
            variables = _variables(module)
            given = {k for k in body if not k.startswith("__")} - META_ARGUMENTS
            assert given - set(variables) == set(), f"module {name}: unknown inputs"
            required = {v for v, spec in variables.items() if "default" not in spec}
            assert required - given == set(), f"module {name}: missing inputs"

    @pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
    def test_module_outputs_used_exist(self, environment: Path) -> None:
        modules = _blocks(environment, "module")
        used = re.findall(r"\bmodule\.(\w+)(?:\[\d+\])?\.(\w+)", _code(environment))
        for module, output in used:
            assert module in modules, module
            outputs = _blocks(_module_dir(environment, modules[module]), "output")
            assert output in outputs, f"module.{module}.{output}"

    @pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
    def test_tfvars_set_declared_variables_and_every_required_one(self, environment: Path) -> None:
        with (environment / "terraform.tfvars").open() as handle:
            values = {k: v for k, v in hcl2.load(handle).items() if not k.startswith("__")}
        variables = _variables(environment)
        assert set(values) - set(variables) == set()
        required = {v for v, spec in variables.items() if "default" not in spec}
        assert required - set(values) == set()
        assert _unquote(values["maturity"]) in ("poc", "iac", "ops")

    @pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
    def test_remote_state_backend_is_configured(self, environment: Path) -> None:
        blocks = [b for path in environment.glob("*.tf") for b in _parse(path).get("terraform", [])]
        assert any("backend" in b for b in blocks)
        with (environment / "backend.hcl").open() as handle:
            backend = {k: v for k, v in hcl2.load(handle).items() if not k.startswith("__")}
        assert {"bucket", "key", "region"} <= set(backend)

    def test_maturity_is_in_every_resource_name(self) -> None:
        for environment in ENVIRONMENTS:
            assert re.search(
                r'prefix\s*=\s*"labcas-workflow-\$\{var\.maturity\}"', _code(environment)
            )
            for name, body in _blocks(environment, "module").items():
                for key in ("name", "name_prefix"):
                    if key in body:
                        assert re.search(r"local\.(prefix|api_name|authz_name)", body[key]), name
        named_by_caller = r"var\.(name|name_prefix|api_function_name|authorizer_function_name)\b"
        for module in MODULES:
            code = _code(module)
            for match in re.finditer(
                r"^\s*(name|function_name|layer_name)\s*=\s*(.+)$", code, re.M
            ):
                assert re.search(named_by_caller, match.group(2)), f"{module.name}: {match[0]}"


class TestOpenApiTemplate:
    def test_the_spec_as_written_is_valid_openapi(self) -> None:
        validate(yaml.safe_load(OPENAPI.read_text()))

    def test_the_rendered_spec_is_valid_openapi_using_only_terraform_variables(self) -> None:
        validate(yaml.safe_load(render_openapi()))

    def test_every_variable_terraform_passes_is_used(self) -> None:
        used = {m.strip() for m in TEMPLATE_VAR_RE.findall(OPENAPI.read_text())}
        assert used == set(_template_variables())

    def test_the_template_refers_to_the_functions_terraform_defines(self) -> None:
        environment = TERRAFORM / "environments" / "dev"
        gateway = _blocks(environment, "module")["api_gateway"]
        assert gateway["api_invoke_arn"] == "${module.api_function.invoke_arn}"
        assert gateway["authorizer_invoke_arn"] == "${module.authorizer_function.invoke_arn}"
        handlers = {
            name: _unquote(body["handler"])
            for name, body in _blocks(environment, "module").items()
            if "handler" in body
        }
        assert handlers == {
            "api_function": "labcas_workflow_api.aws.api.handler",
            "authorizer_function": "labcas_workflow_api.aws.authorizer.handler",
        }

    def test_every_operation_is_integrated_and_every_path_has_a_cors_mock(self) -> None:
        spec = yaml.safe_load(render_openapi())
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                integration = operation["x-amazon-apigateway-integration"]
                if method == "options":
                    assert integration["type"] == "mock", path
                    assert operation["security"] == [], path
                    headers = integration["responses"]["default"]["responseParameters"]
                    assert (
                        headers["method.response.header.Access-Control-Allow-Origin"]
                        == "stageVariables.allowOrigin"
                    )
                    allowed = headers["method.response.header.Access-Control-Allow-Methods"]
                    assert set(allowed.strip("'").split(",")) == {m.upper() for m in item}
                else:
                    assert integration["type"] == "aws_proxy", (path, method)
                    assert integration["httpMethod"] == "POST"
                    assert integration["uri"].endswith("labcas-workflow-iac-api/invocations")
            assert "options" in item, path

    def test_the_authorizer_is_the_security_scheme_of_every_protected_operation(self) -> None:
        spec = yaml.safe_load(render_openapi())
        schemes = spec["components"]["securitySchemes"]
        (name,) = [n for n, s in schemes.items() if "x-amazon-apigateway-authorizer" in s]
        authorizer = schemes[name]["x-amazon-apigateway-authorizer"]
        assert authorizer["type"] == "request"
        assert authorizer["identitySource"] == "method.request.header.Authorization"
        assert authorizer["authorizerUri"].endswith("labcas-workflow-iac-authorizer/invocations")
        assert authorizer["authorizerResultTtlInSeconds"] == 300
        assert spec["security"] == [{name: []}]
        open_operations = {
            (path, method)
            for path, item in spec["paths"].items()
            for method, operation in item.items()
            if operation.get("security") == [] and method != "options"
        }
        assert open_operations == {("/healthz", "get"), ("/readyz", "get")}

    def test_greedy_output_path_is_used_for_folders_with_slashes(self) -> None:
        spec = yaml.safe_load(OPENAPI.read_text())
        assert "/output-data/{path+}" in spec["paths"]
        assert "/output-data" in spec["paths"]


def _terraform() -> str:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("no terraform binary on this machine (none can be downloaded)")
    return binary


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", **env},
    )


class TestTerraformBinary:
    """Only where a terraform binary is installed: nothing is downloaded."""

    def test_fmt(self) -> None:
        result = _run([_terraform(), "fmt", "-recursive", "-check", "-diff"], TERRAFORM)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_templatefile_renders_like_the_python_rendering(self, tmp_path: Path) -> None:
        expression = (
            f'jsonencode(yamldecode(templatefile("{OPENAPI}", {{'
            'api_invoke_arn = "arn:a", authorizer_invoke_arn = "arn:b", '
            "authorizer_ttl_seconds = 300})))"
        )
        result = subprocess.run(
            [_terraform(), "console"],
            cwd=tmp_path,
            input=expression + "\n",
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "CHECKPOINT_DISABLE": "1"},
        )
        assert result.returncode == 0, result.stderr
        rendered = json.loads(json.loads(result.stdout.strip()))
        expected = yaml.safe_load(
            render_openapi(
                {
                    "api_invoke_arn": "arn:a",
                    "authorizer_invoke_arn": "arn:b",
                    "authorizer_ttl_seconds": "300",
                }
            )
        )
        assert rendered == json.loads(json.dumps(expected))

    @pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
    def test_validate_with_a_local_provider_mirror(self, environment: Path, tmp_path: Path) -> None:
        terraform = _terraform()
        if not PROVIDER_MIRROR.is_dir():
            pytest.skip(f"no local provider mirror at {PROVIDER_MIRROR}")
        copy = tmp_path / "terraform"
        shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform*"))
        work = copy / "environments" / environment.name
        init = _run(
            [terraform, "init", "-backend=false", f"-plugin-dir={PROVIDER_MIRROR}", "-no-color"],
            work,
        )
        if init.returncode != 0:
            pytest.skip(f"the local provider mirror does not satisfy the config: {init.stderr}")
        result = _run([terraform, "validate", "-no-color"], work)
        assert result.returncode == 0, result.stdout + result.stderr


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
