"""The embedded default stack behind README command 1: Airflow 3, SeaweedFS and the API."""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

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


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner may read, from its first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)  # an existing file keeps its mode through os.open


def _persistent_secret(path: Path) -> str:
    if not path.exists():
        write_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def seed_demo_images(s3: Any, bucket: str = DATA_BUCKET, prefix: str = "nebraska_images/") -> int:
    """Put the synthetic demo images in the input collection; return how many."""
    from labcas_workflow_api.devstack.images import make_images

    client = s3.client()
    images = make_images()
    for name, body in images.items():
        client.put_object(Bucket=bucket, Key=prefix + name, Body=body, ContentType="image/png")
    return len(images)


def run_devstack(
    *, api_port: int = 8000, airflow_port: int = 8080, state_dir: str = ".devstack"
) -> int:
    """Start everything, print the API URL and a token, serve until Ctrl-C, stop everything."""
    import uvicorn

    from labcas_workflow_api.auth.jwt import mint_token
    from labcas_workflow_api.devstack.airflow import AirflowServer, ensure_airflow_venv
    from labcas_workflow_api.devstack.seaweed import start_seaweed
    from labcas_workflow_api.http.app import create_app
    from labcas_workflow_api.logs import configure_logging
    from labcas_workflow_api.settings import Settings

    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    config_path = state / "access.yml"
    if not config_path.exists():
        config_path.write_text(EXAMPLE_CONFIG)
    jwt_secret = _persistent_secret(state / "jwt-secret")
    stopping: list[Any] = []

    def stop_all(*_: object) -> None:
        for part in reversed(stopping):
            try:
                part.stop()
            except Exception as exc:  # keep stopping the others
                _say(f"while stopping {type(part).__name__}: {exc}")
        stopping.clear()

    try:
        _say("preparing the Airflow virtualenv (first time: a few minutes)...")
        venv = ensure_airflow_venv()
        _say("starting SeaweedFS S3...")
        s3 = start_seaweed(state / "seaweed", buckets=(STAGING_BUCKET, DATA_BUCKET))
        stopping.append(s3)
        _say(f"S3 at {s3.endpoint_url}; seeded {seed_demo_images(s3)} demo images")
        _say(f"starting Airflow 3 on 127.0.0.1:{airflow_port}...")
        airflow = AirflowServer(
            venv,
            home=state / "airflow",
            port=airflow_port,
            password=_persistent_secret(state / "airflow-password"),
            extra_env=s3.env(),
        )
        stopping.append(airflow)
        airflow.start()
        airflow.wait_ready()
        airflow.wait_for_dag("nebraska_demo")
        _say(f"Airflow ready at {airflow.url} (user admin, password in {state}/airflow-password)")
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
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": s3.access_key,
                "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                "AWS_DEFAULT_REGION": s3.region,
            }
        )
        configure_logging()
        app = create_app(settings)
        token = mint_token(jwt_secret, EXAMPLE_USER, ttl=12 * 3600)
        api_url = f"http://127.0.0.1:{api_port}"
        print(
            f"\nLabCAS Workflow API: {api_url}\n"
            f"Web app:             {api_url}/ui/\n"
            f"Token for '{EXAMPLE_USER}' (12 h):\n{token}\n\n"
            f"Try: curl -H 'Authorization: Bearer {token[:12]}...' {api_url}/data-selections\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        write_private(state / "token", token)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        uvicorn.run(app, host="127.0.0.1", port=api_port, log_level="info")
        return 0
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        _say(f"failed: {exc}")
        return 1
    finally:
        _say("stopping...")
        started = time.monotonic()
        stop_all()
        _say(f"stopped in {time.monotonic() - started:.1f} s")
        sys.stdout.flush()
