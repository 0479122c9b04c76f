"""Cold start of the Lambda handlers against a plain baseline handler.

Each sample is a fresh interpreter that imports a handler module and answers its first event
(then a second one, the warm path). The baseline is a plain handler that only imports boto3,
requests and PyYAML. SSM and Secrets Manager are a local moto server, so the authorizer and the
API read their secret and access config through boto3 exactly as on AWS; the engine URL is a
closed local port (the first API event, /healthz, does not need it).

    python bench/cold_start.py [--runs 7] [--no-bytecode] [--importtime]

``--no-bytecode`` gives every sample an empty bytecode cache, as a Lambda layer without
precompiled ``.pyc`` files has (``/opt`` is read-only): every module is compiled on import.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.devstack.moto import start_moto
from labcas_workflow_api.devstack.process import free_port

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "fixtures" / "events"
SECRET = "cold-start-bench-secret-0123456789abcdef"
CONFIG = """
collections:
  nebraska_images:
    bucket: edrn-data
    prefix: nebraska_images/
    workflows:
      nebraska_demo:
        authorized_users: [thomas]
"""

BASELINE = """
import boto3
import requests
import yaml


def handler(event, context):
    return {"statusCode": 200, "body": yaml.safe_dump({"ok": True})}
"""

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import importlib
module = importlib.import_module(sys.argv[1])
t1 = time.perf_counter()
event = json.loads(sys.argv[2])
first = module.handler(event, None)
t2 = time.perf_counter()
second = module.handler(event, None)
t3 = time.perf_counter()
outcome = first.get("statusCode") or first["policyDocument"]["Statement"][0]["Effect"]
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "second": t3 - t2, "outcome": outcome}))
"""


def sample(
    module: str, event: dict[str, object], env: dict[str, str], *, no_bytecode: bool
) -> dict[str, float | str]:
    run_env = dict(env)
    with tempfile.TemporaryDirectory() as cache:
        if no_bytecode:
            run_env["PYTHONPYCACHEPREFIX"] = cache
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, module, json.dumps(event)],
            env=run_env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{module} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process"] = wall
    return result


def import_profile(module: str, env: dict[str, str], top: int = 12) -> list[tuple[float, str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]) / 1e6, parts[2].rstrip()))
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-bytecode", action="store_true")
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()

    moto = start_moto()
    try:
        region = "us-east-1"
        aws = {"region_name": region, "endpoint_url": moto.endpoint_url}
        keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
        boto3.client("ssm", **aws, **keys).put_parameter(
            Name="/labcas/bench/config", Value=CONFIG, Type="SecureString", Overwrite=True
        )
        arn = boto3.client("secretsmanager", **aws, **keys).create_secret(
            Name="labcas/bench/jwt", SecretString=SECRET
        )["ARN"]
        with tempfile.TemporaryDirectory() as workdir:
            (Path(workdir) / "baseline_handler.py").write_text(BASELINE)
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("LABCAS_", "AWS_"))
            }
            env.update(
                PYTHONPATH=os.pathsep.join([workdir, str(ROOT / "src")]),
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench",
                AWS_DEFAULT_REGION=region,
                AWS_ENDPOINT_URL_SSM=moto.endpoint_url,
                AWS_ENDPOINT_URL_SECRETS_MANAGER=moto.endpoint_url,
                LABCAS_CONFIG="ssm:/labcas/bench/config",
                LABCAS_JWT_SECRET_ARN=arn,
                LABCAS_ENGINE_URL=f"http://127.0.0.1:{free_port()}",
                LABCAS_STAGING_BUCKET="labcas-staging",
                PYDANTIC_DISABLE_PLUGINS="__all__",  # as terraform/ sets it on the functions
            )
            token = mint_token(SECRET, "thomas")
            authorizer_event = json.loads((EVENTS / "authorizer_request.json").read_text())
            authorizer_event["headers"]["authorization"] = f"Bearer {token}"
            authorizer_event["multiValueHeaders"]["authorization"] = [f"Bearer {token}"]
            api_event = json.loads((EVENTS / "api_get_healthz.json").read_text())
            cases = [
                ("baseline (boto3+requests+yaml)", "baseline_handler", api_event),
                ("authorizer", "labcas_workflow_api.aws.authorizer", authorizer_event),
                ("api (first event /healthz)", "labcas_workflow_api.aws.api", api_event),
            ]
            sample(cases[0][1], cases[0][2], env, no_bytecode=False)  # warm the OS file cache
            results: dict[str, dict[str, float]] = {}
            mode = "empty bytecode cache" if args.no_bytecode else "warm bytecode cache"
            print(f"{args.runs} fresh interpreters per handler, {mode}; medians in ms")
            print(f"{'handler':<32}{'import':>9}{'1st evt':>9}{'2nd evt':>9}"
                  f"{'import+1st':>12}{'process':>10}  outcome")  # fmt: skip
            for label, module, event in cases:
                runs = [
                    sample(module, event, env, no_bytecode=args.no_bytecode)
                    for _ in range(args.runs)
                ]
                median = {
                    k: statistics.median(float(r[k]) for r in runs)
                    for k in ("import", "first", "second", "process")
                }
                median["cold"] = median["import"] + median["first"]
                results[label] = median
                print(
                    f"{label:<32}{median['import'] * 1e3:9.1f}{median['first'] * 1e3:9.1f}"
                    f"{median['second'] * 1e3:9.2f}{median['cold'] * 1e3:12.1f}"
                    f"{median['process'] * 1e3:10.1f}  {runs[-1]['outcome']}"
                )
            baseline = results[cases[0][0]]
            for label, _, _ in cases[1:]:
                print(
                    f"ratio {label} / baseline: import+first event "
                    f"{results[label]['cold'] / baseline['cold']:.2f}x, whole process "
                    f"{results[label]['process'] / baseline['process']:.2f}x"
                )
            if args.importtime:
                for label, module, _ in cases[1:]:
                    print(f"\nslowest imports of {module} (cumulative ms):")
                    for seconds, name in import_profile(module, env):
                        print(f"{seconds * 1e3:9.1f}  {name}")
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
