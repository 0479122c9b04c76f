"""Cold start of the Lambda handlers: import + first answer in fresh processes, medians.

Each sample is a fresh interpreter that imports a handler module and answers its first event
(then a second one, the warm path). The cases run interleaved, repetition by repetition, in
the same run:

- ``original``: what the original Lambda imported (boto3, requests, PyYAML) and nothing more;
- ``authorizer``: our REQUEST authorizer, first event a valid token (reads the JWT secret from
  Secrets Manager and the access config from SSM, both on a local moto server);
- ``api``: our API function, first event ``GET /healthz``.

The Mangum variant of the API, measured side by side with this script, is in the history of
``src/labcas_workflow_api/aws/mangum_runtime.py`` (figures in ``aws/proxy.py``).

The children see what a Lambda container has: the standard library, ``src/`` and a "layer"
of exactly the distributions pinned in ``scripts/lambda-requirements.txt`` (symbolic links
into this environment; ``python -S``, so nothing else of the development virtualenv is
importable: PyJWT does not find ``cryptography``, httpx does not load its ``click``/``rich``
command line), plus requests for the original's imports.

Each case runs with bytecode (every ``.pyc`` present, as a layer built by
``scripts/build_lambda.py``) and without (the standard library precompiled, as in the Lambda
runtime, but the project and its dependencies compiled at every start and never cached, as
from a layer without ``.pyc`` files: ``/opt`` is read-only). This interpreter's version is
used, not necessarily the runtime's (3.13).

    python bench/cold_start.py [--runs 7] [--mode both|bytecode|no-bytecode] [--importtime]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
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

ORIGINAL = """
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

MODES = {"bytecode": "with bytecode", "no-bytecode": "without bytecode"}


def stdlib_bytecode(prefix: Path) -> None:
    """The standard library compiled into a pycache prefix (the Lambda runtime ships it so)."""
    stdlib = sysconfig.get_paths()["stdlib"]
    command = [sys.executable, "-m", "compileall", "-q", "-j", "0", "-x", "site-packages", stdlib]
    subprocess.run(
        command,
        env={**os.environ, "PYTHONPYCACHEPREFIX": str(prefix)},
        check=False,
        capture_output=True,
    )


def layer(target: Path, extra: tuple[str, ...]) -> None:
    """Links to the installed files of the layer's distributions (and ``extra``) only."""
    lock = ROOT / "scripts" / "lambda-requirements.txt"
    names = [line.split("==")[0] for line in lock.read_text().splitlines() if "==" in line[:80]]
    target.mkdir()
    for name in [*names, *extra]:
        dist = importlib.metadata.distribution(name)
        for top in {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] != ".."}:
            source, link = Path(str(dist.locate_file(top))), target / top
            if source.exists() and not link.exists():
                link.symlink_to(source)


def sample(
    module: str, event: dict[str, object], env: dict[str, str], *, prefix: Path | None
) -> dict[str, float | str]:
    run_env = dict(env)
    if prefix is not None:
        run_env.update(PYTHONPYCACHEPREFIX=str(prefix), PYTHONDONTWRITEBYTECODE="1")
    began, used = time.perf_counter(), _children_cpu()
    done = subprocess.run(
        [sys.executable, "-S", "-c", CHILD, module, json.dumps(event)],
        env=run_env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall, cpu = time.perf_counter() - began, _children_cpu() - used
    if done.returncode != 0:
        raise SystemExit(f"{module} failed:\n{done.stderr}")
    result: dict[str, float | str] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process"], result["cpu"] = wall, cpu
    return result


def _children_cpu() -> float:
    """User + system CPU seconds of finished children: less disturbed than wall time by other
    work on the machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_profile(module: str, env: dict[str, str], top: int = 15) -> list[tuple[float, str]]:
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", f"import {module}"],
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
    parser.add_argument("--mode", choices=["both", *MODES], default="both")
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    modes = list(MODES) if args.mode == "both" else [args.mode]

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
            (Path(workdir) / "original_handler.py").write_text(ORIGINAL)
            layer(Path(workdir) / "layer", ("requests", "charset-normalizer"))
            prefix = Path(workdir) / "stdlib-bytecode"
            if "no-bytecode" in modes:
                stdlib_bytecode(prefix)
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("LABCAS_", "AWS_", "PYTHON"))
            }
            env.update(
                PYTHONPATH=os.pathsep.join([workdir, str(ROOT / "src"), f"{workdir}/layer"]),
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
                ("original (boto3+requests+yaml)", "original_handler", api_event),
                ("authorizer", "labcas_workflow_api.aws.authorizer", authorizer_event),
                ("api (first event /healthz)", "labcas_workflow_api.aws.api", api_event),
            ]
            for _, module, event in cases:  # fill __pycache__ and the OS file cache
                sample(module, event, env, prefix=None)
            for mode in modes:
                runs: dict[str, list[dict[str, float | str]]] = {c[0]: [] for c in cases}
                for _ in range(args.runs):
                    for label, module, event in cases:
                        mode_prefix = prefix if mode == "no-bytecode" else None
                        runs[label].append(sample(module, event, env, prefix=mode_prefix))
                report(MODES[mode], args.runs, runs)
            if args.importtime:
                for label, module, _ in cases[1:]:
                    print(f"\nslowest imports of {label} (cumulative ms, with bytecode):")
                    for seconds, name in import_profile(module, env):
                        print(f"{seconds * 1e3:9.1f}  {name}")
    finally:
        moto.stop()
    return 0


def report(mode: str, count: int, runs: dict[str, list[dict[str, float | str]]]) -> None:
    print(f"\n{count} fresh interpreters per case, interleaved, {mode}; medians in ms")
    print(f"{'case':<32}{'import':>9}{'1st evt':>9}{'2nd evt':>9}"
          f"{'import+1st':>12}{'process':>10}{'cpu':>9}  outcome")  # fmt: skip
    medians = {}
    for label, samples in runs.items():
        median = {
            k: statistics.median(float(r[k]) for r in samples)
            for k in ("import", "first", "second", "process", "cpu")
        }
        median["cold"] = statistics.median(float(r["import"]) + float(r["first"]) for r in samples)
        medians[label] = median
        print(
            f"{label:<32}{median['import'] * 1e3:9.1f}{median['first'] * 1e3:9.1f}"
            f"{median['second'] * 1e3:9.2f}{median['cold'] * 1e3:12.1f}"
            f"{median['process'] * 1e3:10.1f}{median['cpu'] * 1e3:9.1f}  {samples[-1]['outcome']}"
        )
    original = next(iter(medians.values()))
    for label, median in list(medians.items())[1:]:
        print(
            f"ratio {label} / original: import+first "
            f"{median['cold'] / original['cold']:.2f}x, process "
            f"{median['process'] / original['process']:.2f}x"
        )


if __name__ == "__main__":
    sys.exit(main())
