"""`terraform plan` of the example environment, offline: STS is moto server, state is local.

Runs only where a terraform binary and a local provider mirror are installed (nothing can be
downloaded). The plan evaluates every expression, the templatefile() of docs/openapi.yml, the
IAM policy documents and the module wiring, as it would against a real account.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_MIRROR = Path(os.environ.get("LABCAS_TF_PLUGIN_DIR", "/opt/tf-plugins"))

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


def _terraform(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args, "-no-color"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"},
    )


def test_plan_of_the_dev_environment(moto_server: Any, tmp_path: Path) -> None:
    if shutil.which("terraform") is None or not PROVIDER_MIRROR.is_dir():
        pytest.skip("needs a terraform binary and a local provider mirror")
    shutil.copytree(ROOT / "terraform", tmp_path / "terraform")
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "openapi.yml", tmp_path / "docs")
    artifacts = tmp_path / "build" / "lambda"
    artifacts.mkdir(parents=True)
    for name in ("function.zip", "layer.zip"):
        with zipfile.ZipFile(artifacts / name, "w") as archive:
            archive.writestr("placeholder", name)
    work = tmp_path / "terraform" / "environments" / "dev"
    (work / "override.tf").write_text(OVERRIDES % moto_server.endpoint_url)

    init = _terraform(["init", "-input=false", f"-plugin-dir={PROVIDER_MIRROR}"], work)
    if init.returncode != 0:
        pytest.skip(f"the local provider mirror does not satisfy the config: {init.stderr}")
    plan = _terraform(["plan", "-input=false", "-out=plan.bin"], work)
    assert plan.returncode == 0, plan.stdout[-4000:] + plan.stderr
    shown = _terraform(["show", "-json", "plan.bin"], work)
    changes = json.loads(shown.stdout)["resource_changes"]

    names = {}
    for change in changes:
        after = change["change"]["after"] or {}
        names[change["address"]] = (
            after.get("name") or after.get("function_name") or (after.get("layer_name"))
        )
    assert {c["change"]["actions"][0] for c in changes} == {"create"}
    assert len(changes) == 18
    for address, name in names.items():
        if name and "stage" not in address and "method_settings" not in address:
            assert "labcas-workflow-iac-" in name, (address, name)

    by_address = {c["address"]: c["change"]["after"] for c in changes}
    api = by_address["module.api_function.aws_lambda_function.this"]
    assert api["handler"] == "labcas_workflow_api.aws.api.handler"
    assert api["runtime"] == "python3.13"
    assert api["environment"][0]["variables"]["LABCAS_CONFIG"].startswith("ssm:/")
    assert api["vpc_config"][0]["subnet_ids"]
    stage = by_address["module.api_gateway.aws_api_gateway_stage.this"]
    assert stage["variables"] == {"allowOrigin": "https://edrn-labcas.jpl.nasa.gov"}
    policy = json.loads(by_address["module.iam[0].aws_iam_role_policy.authorizer"]["policy"])
    actions = {a for s in policy["Statement"] for a in _list(s["Action"])}
    assert actions == {
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
        "xray:PutTelemetryRecords", "ssm:GetParameter", "secretsmanager:GetSecretValue",
    }  # fmt: skip


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
