"""S3 and moto fixtures (owned by the storage work).

``s3_server``: a SeaweedFS ``weed mini`` on 127.0.0.1 with the buckets ``labcas-staging`` and
``edrn-data``; attributes ``endpoint_url``, ``access_key``, ``secret_key``, ``region``, plus
``client()``, ``env()`` and ``create_buckets(*names)``.
``moto_server``: a moto server on 127.0.0.1; attribute ``endpoint_url`` (and ``region``).
``s3_store(server, endpoint_url=None, **options)``: an ``S3Store`` on the server (or on
another endpoint in front of it, a fault proxy), signed with its credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from labcas_workflow_api.devstack.moto import MotoServer, start_moto
from labcas_workflow_api.devstack.seaweed import SeaweedS3, start_seaweed
from labcas_workflow_api.storage.s3 import S3Store
from tests.release import track

STAGING_BUCKET = "labcas-staging"
DATA_BUCKET = "edrn-data"

__all__ = ["DATA_BUCKET", "STAGING_BUCKET", "moto_server", "s3_server", "s3_store"]


def s3_store(server: SeaweedS3, endpoint_url: str | None = None, **options: Any) -> S3Store:
    session = boto3.Session(
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
    )
    return S3Store(endpoint_url or server.endpoint_url, server.region, session=session, **options)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = start_seaweed(
        tmp_path_factory.mktemp("seaweed"), buckets=(STAGING_BUCKET, DATA_BUCKET)
    )
    stop = track("s3_server", server.stop)
    try:
        yield server
    finally:
        stop()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = start_moto(log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    stop = track("moto_server", server.stop)
    try:
        yield server
    finally:
        stop()
