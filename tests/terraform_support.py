"""What the Terraform tests share: the files, the OpenAPI template as Terraform renders it, and a
``terraform`` run against the provider mirror of this machine, with no network.

The AWS provider comes from a filesystem mirror (``/opt/tf-plugins``, or ``LABCAS_TF_PLUGIN_DIR``)
named by a CLI configuration written for the run (``TF_CLI_CONFIG_FILE``). Where ``CI`` is set,
a missing ``terraform`` or mirror fails the test; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"
OPENAPI = ROOT / "docs" / "openapi.yml"
ENVIRONMENT = TERRAFORM / "environments" / "dev"
GATEWAY_MODULE = TERRAFORM / "modules" / "api_gateway"
PROVIDER_MIRROR = Path(os.environ.get("LABCAS_TF_PLUGIN_DIR", "/opt/tf-plugins"))
TEMPLATE_VAR_RE = re.compile(r"(?<!\$)\$\{([^}]*)\}")

#: Example values of the templatefile() variables, shaped as Terraform passes them.
TEMPLATE_EXAMPLES = {
    "api_invoke_arn": "arn:aws:apigateway:us-west-2:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-west-2:123456789012:function:labcas-workflow-iac-dev-api:live/invocations",
    "authorizer_invoke_arn": "arn:aws:apigateway:us-west-2:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-west-2:123456789012:function:labcas-workflow-iac-dev-authorizer:live"
    "/invocations",
    "authorizer_ttl_seconds": "300",
    "integration_timeout_ms": "29000",
}

CLI_CONFIG = """
provider_installation {
  filesystem_mirror {
    path    = "%s"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
"""


def unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@cache
def parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


def blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Labelled blocks (`variable "x" {}`, `module "y" {}`, `output "z" {}`) of a directory."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get(kind, []):
            for label, body in block.items():
                found[unquote(label)] = body
    return found


def resource(directory: Path, kind: str, name: str) -> dict[str, Any]:
    """The body of `resource "kind" "name"` in a directory."""
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get("resource", []):
            for label, bodies in block.items():
                if unquote(label) == kind:
                    for body_label, body in bodies.items():
                        if unquote(body_label) == name:
                            return dict(body)
    raise AssertionError(f"no resource {kind}.{name} in {directory}")


def template_variables() -> dict[str, str]:
    """The map passed to templatefile() for docs/openapi.yml: name -> Terraform expression."""
    for path in sorted(GATEWAY_MODULE.glob("*.tf")):
        for block in parse(path).get("locals", []):
            body = block.get("openapi_body")
            if body:
                match = re.search(r"templatefile\(var\.openapi_path,\s*\{(.*)\}\)", body, re.S)
                assert match, body
                pairs = re.findall(r"(\w+)\s*=\s*([^,]+)", match.group(1))
                return {name: expression.strip() for name, expression in pairs}
    raise AssertionError("the api_gateway module has no openapi_body local")


def stage_variables() -> set[str]:
    """The names of the stage variables Terraform sets (aws_api_gateway_stage.this.variables)."""
    stage = resource(GATEWAY_MODULE, "aws_api_gateway_stage", "this")
    return set(stage.get("variables", {}))


def template_placeholders(text: str | None = None) -> set[str]:
    """The ${name} placeholders of docs/openapi.yml ($${...} is a literal for templatefile)."""
    return {
        m.strip() for m in TEMPLATE_VAR_RE.findall(OPENAPI.read_text() if text is None else text)
    }


def render_openapi(values: dict[str, str] | None = None) -> str:
    """docs/openapi.yml as templatefile() renders it, with example values."""
    names = template_variables()
    examples = {**TEMPLATE_EXAMPLES, **(values or {})}
    text = OPENAPI.read_text()
    assert "%{" not in text, "templatefile() would read %{ as a directive; write %%{"

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        assert name in names, f"docs/openapi.yml uses ${{{name}}}, not passed by Terraform"
        return examples[name]

    rendered = TEMPLATE_VAR_RE.sub(substitute, text.replace("$${", "\0"))
    return rendered.replace("\0", "${")


def terraform_binary() -> str:
    """The terraform on PATH and the provider mirror: a failure under CI, else a skip."""
    binary = shutil.which("terraform")
    missing = []
    if binary is None:
        missing.append("no terraform binary on PATH")
    if not (PROVIDER_MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        missing.append(f"no AWS provider in the mirror {PROVIDER_MIRROR} (LABCAS_TF_PLUGIN_DIR)")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: the CI image has both")
        pytest.skip(reason)
    assert binary is not None
    return binary


def copy_tree(destination: Path) -> Path:
    """terraform/ (with the committed lock files, without .terraform/) and docs/openapi.yml,
    laid out as in the repository; returns the copy of the dev environment."""
    shutil.copytree(
        TERRAFORM, destination / "terraform", ignore=shutil.ignore_patterns(".terraform")
    )
    (destination / "docs").mkdir()
    shutil.copy(OPENAPI, destination / "docs" / "openapi.yml")
    return destination / "terraform" / "environments" / ENVIRONMENT.name


def run_terraform(
    args: list[str], cwd: Path, *, timeout: float = 300, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``terraform <args> -no-color`` in ``cwd``, with a CLI configuration naming the mirror."""
    config = Path(tempfile.gettempdir()) / f"labcas-terraformrc-{os.getpid()}"
    if not config.exists():
        config.write_text(CLI_CONFIG % PROVIDER_MIRROR)
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    return subprocess.run(
        [terraform_binary(), *args, "-no-color"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        env=env,
    )
