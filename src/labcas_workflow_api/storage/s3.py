"""The S3 staging store: boto3 for writes and single reads, a lean SigV4 path for the hot reads.

Browsing a folder lists its keys and reads every metadata sidecar. Done through boto3 this
is CPU-bound (request building, XML-to-shape parsing, date parsing) and threads do not help
under the GIL, so ``list`` and ``get_many`` sign their own query-string requests with
``SigV4Presigner`` (the same signer that makes the download links) and send them over a small
pool of keep-alive ``http.client`` connections. Credentials, region and endpoint are always
those boto3 resolved for the client. Pass ``fast_reads=False`` to do everything with boto3.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import http.client
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from labcas_workflow_api.domain.errors import (
    BadRequest,
    LabcasError,
    NotFound,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.domain.models import Fetched, Listing, ObjectInfo
from labcas_workflow_api.storage.s3_http import (
    ConnectionPool,
    Credentials,
    HttpError,
    Page,
    SigV4Presigner,
    bare_etag,
    error_code,
    parse_list,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ListObjectsV2OutputTypeDef

log = logging.getLogger(__name__)

_DNS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_AWS_S3_HOST = re.compile(r"^s3([.-][a-z0-9-]+)?\.amazonaws\.com$")
_MAX_CURSOR = 2048
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "NotFound", "404"}
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "503"}


def encode_cursor(start_after: str) -> str:
    return base64.urlsafe_b64encode(start_after.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str) -> str:
    """The key a listing resumes after; ``BadRequest`` when the cursor is not one of ours."""
    if len(cursor) > _MAX_CURSOR:
        raise BadRequest("invalid cursor: too long")
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise BadRequest("invalid cursor") from None
    if not key.startswith(prefix) or key == prefix:
        raise BadRequest("invalid cursor: not for this path")
    return key


def is_placeholder(key: str, prefix: str) -> bool:
    """A zero-content "folder" marker: the prefix itself or any key ending with ``/``."""
    return key == prefix or key.endswith("/")


class S3Store:
    """``StagingStore`` over S3 or an S3-compatible server (``endpoint_url``)."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        s3_client: S3Client | None = None,
        max_workers: int = 16,
        connect_timeout: float = 3.0,
        read_timeout: float = 15.0,
        max_attempts: int = 3,
        fast_reads: bool = True,
    ) -> None:
        self._endpoint_url = endpoint_url or None
        self._region = region or None
        self._client = s3_client
        self.max_workers = max_workers
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.fast_reads = fast_reads
        self._lock = threading.Lock()
        self._presigner: SigV4Presigner | None = None
        self._pools: dict[str, ConnectionPool] = {}
        self._executor: ThreadPoolExecutor | None = None

    # -- clients ---------------------------------------------------------------------------

    @property
    def client(self) -> S3Client:
        """The boto3 client, built on first use when none was given."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build_client()
        return self._client

    def _build_client(self) -> S3Client:
        import boto3
        from botocore.config import Config

        config = Config(
            signature_version="s3v4",
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"max_attempts": self.max_attempts, "mode": "standard"},
            max_pool_connections=max(10, self.max_workers),
            s3={"addressing_style": "path" if self._endpoint_url else "auto"},
        )
        return boto3.client(
            "s3", endpoint_url=self._endpoint_url, region_name=self._region, config=config
        )

    @property
    def region(self) -> str:
        return self._region or self.client.meta.region_name or "us-east-1"

    @property
    def presigner(self) -> SigV4Presigner:
        if self._presigner is None:
            self._presigner = SigV4Presigner(self.region)
        return self._presigner

    def credentials(self) -> Credentials:
        """The client's current credentials (refreshed by botocore when they expire)."""
        signer = getattr(self.client, "_request_signer", None)
        creds: Any = getattr(signer, "_credentials", None)
        if creds is None:
            import botocore.session

            creds = botocore.session.get_session().get_credentials()
        if creds is None:
            raise UpstreamBadResponse("no AWS credentials available to sign S3 requests")
        frozen = creds.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def object_url(self, bucket: str, key: str = "") -> tuple[str, str]:
        """``(base_url, quoted_path)`` of an object: virtual-hosted on AWS, path-style else."""
        endpoint = (self._endpoint_url or self.client.meta.endpoint_url).rstrip("/")
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        if self._endpoint_url is None and _AWS_S3_HOST.match(host) and _DNS_BUCKET.match(bucket):
            netloc = f"{bucket}.{parts.netloc}"
            return f"{parts.scheme}://{netloc}", "/" + quote(key, safe="/~")
        base_path = parts.path.rstrip("/")
        return f"{parts.scheme}://{parts.netloc}", f"{base_path}/{bucket}/" + quote(key, safe="/~")

    def _pool(self, base_url: str) -> ConnectionPool:
        pool = self._pools.get(base_url)
        if pool is None:
            with self._lock:
                pool = self._pools.get(base_url)
                if pool is None:
                    pool = ConnectionPool(
                        base_url, self.connect_timeout, self.read_timeout, self.max_workers
                    )
                    self._pools[base_url] = pool
        return pool

    def _signed_get(self, bucket: str, key: str, query: dict[str, str] | None = None) -> Fetched:
        """A ``GET`` signed by us; raises ``HttpError`` for non-2xx answers."""
        base, path = self.object_url(bucket, key)
        url = self.presigner.presign("GET", base, path, self.credentials(), 300, query=query)
        status, body, etag = self._pool(base).get(url[len(base) :], self.max_attempts)
        if status >= 300:
            code, message = error_code(body, status)
            raise HttpError(status, code, message)
        return Fetched(body, bare_etag(etag))

    def _pool_executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        self.max_workers, thread_name_prefix="s3-get"
                    )
        return self._executor

    def close(self) -> None:
        """Release the thread pool and idle connections."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        for pool in list(self._pools.values()):
            pool.close()

    # -- the port --------------------------------------------------------------------------

    def list(
        self,
        bucket: str,
        prefix: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Listing:
        if limit is not None and limit < 1:
            raise BadRequest("limit must be at least 1")
        start_after = decode_cursor(cursor, prefix) if cursor else None
        prefixes: builtins.list[str] = []
        objects: builtins.list[ObjectInfo] = []
        last: str | None = None
        token: str | None = None
        with _mapped(f"listing s3://{bucket}/{prefix}"):
            while True:
                page = self._list_page(bucket, prefix, start_after, token)
                for key, info in page.entries:
                    if start_after is not None and key <= start_after:
                        continue
                    if info is not None and is_placeholder(key, prefix):
                        continue
                    if limit is not None and len(prefixes) + len(objects) >= limit:
                        assert last is not None
                        return Listing(prefixes, objects, encode_cursor(last))
                    if info is None:
                        prefixes.append(key)
                    else:
                        objects.append(info)
                    last = key
                if not page.next_token:
                    return Listing(prefixes, objects, None)
                token = page.next_token

    def _list_page(
        self, bucket: str, prefix: str, start_after: str | None, token: str | None
    ) -> Page:
        if self.fast_reads:
            query = {"list-type": "2", "delimiter": "/", "prefix": prefix, "encoding-type": "url"}
            if token:
                query["continuation-token"] = token
            elif start_after:
                query["start-after"] = start_after
            return parse_list(self._signed_get(bucket, "", query).body)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
        if token:
            kwargs["ContinuationToken"] = token
        elif start_after:
            kwargs["StartAfter"] = start_after
        return _boto_page(self.client.list_objects_v2(**kwargs))

    def presign_get(self, bucket: str, key: str, ttl: int) -> str:
        with _mapped(f"presigning s3://{bucket}/{key}"):
            base, path = self.object_url(bucket, key)
            return self.presigner.presign("GET", base, path, self.credentials(), ttl)

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            with _mapped(f"s3://{bucket}/{key}"):
                answer = self.client.head_object(Bucket=bucket, Key=key)
        except NotFound:
            return None
        return ObjectInfo(
            key=key,
            size=int(answer.get("ContentLength", 0)),
            last_modified=answer.get("LastModified", datetime.fromtimestamp(0, UTC)),
            etag=bare_etag(answer.get("ETag")),
        )

    def get(self, bucket: str, key: str) -> bytes:
        return self._read(bucket, key).body

    def _read(self, bucket: str, key: str) -> Fetched:
        """The object and its ETag, through boto3; ``NotFound`` when missing."""
        with _mapped(f"s3://{bucket}/{key}"):
            answer = self.client.get_object(Bucket=bucket, Key=key)
            return Fetched(answer["Body"].read(), bare_etag(answer.get("ETag")))

    def get_many(self, bucket: str, keys: builtins.list[str]) -> dict[str, Fetched]:
        if not keys:
            return {}
        fetch: Callable[[str], Fetched | None] = (
            (lambda key: self._get_fast(bucket, key))
            if self.fast_reads
            else (lambda key: self._get_or_none(bucket, key))
        )
        if len(keys) == 1:
            found = fetch(keys[0])
            return {} if found is None else {keys[0]: found}
        fetched = self._pool_executor().map(fetch, keys)
        return {key: found for key, found in zip(keys, fetched, strict=True) if found is not None}

    def _get_fast(self, bucket: str, key: str) -> Fetched | None:
        try:
            with _mapped(f"s3://{bucket}/{key}"):
                return self._signed_get(bucket, key)
        except NotFound:
            return None

    def _get_or_none(self, bucket: str, key: str) -> Fetched | None:
        try:
            return self._read(bucket, key)
        except NotFound:
            return None

    def put(self, bucket: str, key: str, body: bytes, content_type: str = "text/plain") -> None:
        with _mapped(f"writing s3://{bucket}/{key}"):
            self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def ping(self, bucket: str) -> None:
        with _mapped(f"bucket {bucket}"):
            self.client.head_bucket(Bucket=bucket)


def _boto_page(answer: ListObjectsV2OutputTypeDef) -> Page:
    entries: list[tuple[str, ObjectInfo | None]] = [
        (p["Prefix"], None) for p in answer.get("CommonPrefixes", []) if "Prefix" in p
    ]
    for obj in answer.get("Contents", []):
        key = obj.get("Key", "")
        modified = obj.get("LastModified", datetime.fromtimestamp(0, UTC))
        etag = bare_etag(obj.get("ETag"))
        entries.append((key, ObjectInfo(key, int(obj.get("Size", 0)), modified, etag)))
    entries.sort(key=lambda e: e[0])
    more = answer.get("IsTruncated", False)
    return Page(entries, answer.get("NextContinuationToken") if more else None)


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Translate botocore and socket failures into our error tree."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    try:
        yield
    except LabcasError:
        raise
    except (ConnectTimeoutError, ReadTimeoutError, TimeoutError) as exc:
        raise UpstreamTimeout(f"storage timed out ({what})") from exc
    except (EndpointConnectionError, ConnectionClosedError, BotoConnectionError) as exc:
        raise UpstreamUnavailable(f"storage unreachable ({what})") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        raise _from_code(code, int(status or 0), what, str(error.get("Message", ""))) from exc
    except HttpError as exc:
        raise _from_code(exc.code, exc.status, what, str(exc)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise UpstreamUnavailable(f"storage unreachable ({what}): {exc}") from exc
    except BotoCoreError as exc:
        raise UpstreamBadResponse(f"storage error ({what}): {exc}") from exc


def _from_code(code: str, status: int, what: str, message: str) -> LabcasError:
    if code in _NOT_FOUND_CODES or status == 404:  # callers see it: no bucket or key named
        found = "not found" if code != "NoSuchBucket" else "no bucket"
        return NotFound(f"storage: {found}", internal=f"{what}: {found}")
    if code in _UNAVAILABLE_CODES or status == 503:
        return UpstreamUnavailable(f"storage unavailable ({what}): {code}")
    log.warning("storage error %s (%s) for %s: %s", code, status, what, message)
    return UpstreamBadResponse(f"storage error ({what}): {code or status}")
