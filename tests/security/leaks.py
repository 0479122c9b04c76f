"""What no answer body may contain: the names of the stack's insides (Airflow's and the S3
server's addresses, the buckets, the access config's path) and Airflow's own error phrases."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tests.security.stack import DATA, STAGING, Stack

#: Phrases of Airflow's (and its libraries') own errors, and of Python tracebacks.
UPSTREAM_PHRASES = (
    "DagRun",
    "DAGRun",
    "dag_id",
    "was not found",
    "Traceback",
    "sqlalchemy",
    'File "',
    "airflow.",
    "Errno",
    "Connection refused",
    "HTTPConnectionPool",
    "botocore",
    "NoSuchBucket",
    "NoSuchKey",
    "s3://",
)


def internal_names(stack: Stack, *configs: Path | str, buckets: Iterable[str] = ()) -> list[str]:
    """The insides' names as an answer could spell them."""
    names: list[str] = [STAGING, DATA, *buckets, *(str(c) for c in configs)]
    for url in (
        stack.airflow_proxy.url,
        f"http://127.0.0.1:{stack.airflow.port}",
        stack.s3_proxy.url,
        stack.s3.endpoint_url,
    ):
        host_port = url.split("://", 1)[1]
        names += [url, host_port, host_port.replace("127.0.0.1", "localhost")]
    return names


def leaks(text: str, names: Iterable[str]) -> list[str]:
    """The internal names and upstream phrases found in ``text``."""
    found = [n for n in names if n and n in text]
    found += [p for p in UPSTREAM_PHRASES if p in text]
    return found
