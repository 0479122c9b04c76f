"""Browse speed: a folder of 1,000 data files + 1,000 sidecars, naive boto3 vs our API.

Starts its own SeaweedFS (``weed mini``) on 127.0.0.1, seeds the folder, then measures:

* naive: one listing across pages, then one sequential ``get_object`` per sidecar and one
  boto3 ``generate_presigned_url`` per file;
* API, first browse: ``GET /output-data/<folder>?limit=1000`` (one page of the largest size)
  over HTTP against an in-process uvicorn server of ``create_app``, with the service's caches
  emptied before each repetition;
* API, repeat browse: the same request again, sidecars unchanged (caches warm);
* API, annotate: ``PUT /output-data/<folder>`` naming every file (new properties for each).

Prints the median of each and the ratios (targets: >= 3x first, >= 10x repeat).

    python bench/browse_outputs.py [--files 1000] [--reps 7] [--direct]

``--direct`` calls ``OutputService.browse`` in-process instead of going through HTTP.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx

from labcas_workflow_api.devstack.seaweed import SeaweedS3, start_seaweed
from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.access import AccessConfig
from labcas_workflow_api.service.outputs import OutputService
from labcas_workflow_api.storage.s3 import S3Store

BUCKET = "labcas-staging"
USER = "benchuser"
FOLDER = "20260101T000000000000"
PAGE = 1000  # the largest page: the whole folder in one answer
SECRET = "bench-secret-0123456789abcdef-0123456789abcdef"


def seed(server: SeaweedS3, files: int) -> str:
    client = server.client(max_pool_connections=16)
    prefix = f"{USER}/{FOLDER}/"

    def put(i: int) -> None:
        name = f"image_{i:05d}.png"
        client.put_object(Bucket=BUCKET, Key=prefix + name, Body=b"\x89PNG" + os.urandom(256))
        body = sidecar.render(name, {"Cell_Count": str(i % 97), "Stain": "DAPI", "Index": str(i)})
        client.put_object(Bucket=BUCKET, Key=prefix + name + ".cfg", Body=body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(files)))
    return prefix


def naive(client: Any, prefix: str, ttl: int) -> dict[str, Any]:
    """What a straightforward boto3 implementation does."""
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix, Delimiter="/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    present = set(keys)
    files: dict[str, Any] = {}
    for key in keys:
        if key.endswith(".cfg"):
            continue
        name = key[len(prefix) :]
        props: dict[str, str] = {}
        if key + ".cfg" in present:
            body = client.get_object(Bucket=BUCKET, Key=key + ".cfg")["Body"].read()
            props = sidecar.parse(body, name)
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=ttl
        )
        files[name] = {"href": url, "properties": props}
    return files


class ApiServer:
    """``create_app`` served by uvicorn in a thread, on a free 127.0.0.1 port."""

    def __init__(self, server: SeaweedS3, store: S3Store, workdir: Path) -> None:
        import uvicorn

        from labcas_workflow_api.auth.jwt import mint_token
        from labcas_workflow_api.bootstrap import build_container
        from labcas_workflow_api.http.app import create_app
        from labcas_workflow_api.settings import Settings

        config = workdir / "access.yml"
        config.write_text(
            "collections:\n  bench:\n    bucket: edrn-data\n    prefix: bench/\n"
            f"    workflows:\n      bench_dag:\n        authorized_users: [{USER}]\n"
        )
        settings = Settings(
            config=str(config),
            jwt_secret=SECRET,
            staging_bucket=BUCKET,
            s3_endpoint_url=server.endpoint_url,
            _env_file=None,  # type: ignore[call-arg]
        )
        self.container = build_container(settings, engine=_NoEngine(), store=store)  # type: ignore[arg-type]
        app = create_app(container=self.container)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start")
            time.sleep(0.02)
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {mint_token(SECRET, USER)}"},
            timeout=60,
        )

    @property
    def outputs(self) -> OutputService:
        return self.container.outputs

    def reset_caches(self) -> None:
        service = self.container.outputs
        self.container.outputs = OutputService(
            service.store, service.bucket, service.presign_ttl, access=service.access
        )

    def browse(self, path: str) -> dict[str, Any]:
        answer = self.http.get(f"/output-data/{path}", params={"limit": PAGE})
        answer.raise_for_status()
        files: dict[str, Any] = answer.json()["files"]
        return files

    def annotate(self, path: str, files: dict[str, dict[str, str]]) -> None:
        body = {"files": {name: {"properties": props} for name, props in files.items()}}
        answer = self.http.put(f"/output-data/{path}", json=body)
        answer.raise_for_status()

    def stop(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class _NoEngine:
    """The outputs routes never call the engine."""

    def ping(self) -> None:
        return None


def _bench_access() -> AccessConfig:
    workflows = {"bench_dag": {"authorized_users": [USER]}}
    return AccessConfig.model_validate(
        {"collections": {"bench": {"bucket": "edrn-data", "workflows": workflows}}}
    )


class DirectBrowser:
    """``OutputService.browse`` called in-process (no HTTP)."""

    def __init__(self, store: S3Store) -> None:
        self.outputs = OutputService(store, BUCKET, 3600, access=_bench_access)

    def reset_caches(self) -> None:
        self.outputs = OutputService(self.outputs.store, BUCKET, 3600, access=_bench_access)

    def browse(self, path: str) -> dict[str, Any]:
        view = self.outputs.browse(USER, path, limit=PAGE)
        return {f.name: {"href": f.url, "properties": f.properties} for f in view.files}

    def annotate(self, path: str, files: dict[str, dict[str, str]]) -> None:
        self.outputs.annotate(USER, path, files)

    def stop(self) -> None:
        return None


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--direct", action="store_true", help="skip HTTP, call the service")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="labcas-bench-"))
    began = time.perf_counter()
    server = start_seaweed(workdir / "seaweed", buckets=(BUCKET,))
    print(f"SeaweedFS S3 ready at {server.endpoint_url} in {time.perf_counter() - began:.2f}s")
    browser: ApiServer | DirectBrowser | None = None
    try:
        began = time.perf_counter()
        prefix = seed(server, args.files)
        took = time.perf_counter() - began
        print(f"seeded {args.files} files + {args.files} sidecars in {took:.1f}s")
        boto = server.client(max_pool_connections=16)
        session = boto3.Session(
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
            region_name=server.region,
        )
        store = S3Store(server.endpoint_url, server.region, session=session)
        browser = DirectBrowser(store) if args.direct else ApiServer(server, store, workdir)
        how = "OutputService.browse (in-process)" if args.direct else f"GET {FOLDER}/ over HTTP"

        expected = naive(boto, prefix, 3600)  # warm-up both sides once, and check they agree
        browser.reset_caches()
        got = browser.browse(FOLDER)
        assert sorted(got) == sorted(expected), "API and naive listings differ"
        assert all(got[n]["properties"] == expected[n]["properties"] for n in expected)
        assert len(got) == args.files

        naive_t, first_t, repeat_t = [], [], []
        for _ in range(args.reps):
            naive_t.append(timed(lambda: naive(boto, prefix, 3600))[0])
            browser.reset_caches()
            first_t.append(timed(lambda: browser.browse(FOLDER))[0])
            for _ in range(3):
                repeat_t.append(timed(lambda: browser.browse(FOLDER))[0])

        put_t = []
        for rep in range(3):
            files = {name: {"Reviewed": "yes", "Round": str(rep)} for name in got}
            put_t.append(timed(lambda: browser.annotate(FOLDER, files))[0])
        assert browser.browse(FOLDER)["image_00000.png"]["properties"]["Round"] == "2"

        n, f, r = (statistics.median(x) for x in (naive_t, first_t, repeat_t))
        print(f"\nfolder: {args.files} data files + {args.files} sidecars; API path: {how}")
        print(f"reps: {args.reps} (repeat browse: {len(repeat_t)} samples)")
        rows = [
            ("naive: list, GET each sidecar in turn, boto3 presign each file", n),
            ("API first browse (cold caches)", f),
            ("API repeat browse (unchanged sidecars)", r),
        ]
        rows.append(
            (
                f"API PUT properties of all {args.files} files (median of 3)",
                statistics.median(put_t),
            )
        )
        for label, seconds in rows:
            print(f"{label:<64} {seconds * 1000:8.1f} ms")
        for label, ratio, target in (("first", n / f, 3), ("repeat", n / r, 10)):
            verdict = "OK" if ratio >= target else "MISSED"
            print(f"speed-up {label:<7} {ratio:5.1f}x  (target >= {target}x)  {verdict}")
        spread = ", ".join(
            f"{label} {min(t) * 1000:.0f}..{max(t) * 1000:.0f}"
            for label, t in (("naive", naive_t), ("first", first_t), ("repeat", repeat_t))
        )
        print(f"spread (min..max ms): {spread}")
        return 0 if n / f >= 3 and n / r >= 10 else 1
    finally:
        if browser is not None:
            browser.stop()
        server.stop()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
