"""The S3 staging store: a lean SigV4 path for every read, boto3 for writes.

Listing a folder and reading its sidecars through boto3 is CPU-bound and threads do not help
under the GIL: measured 5-13x dearer per call than our own query-string signatures
(``SigV4Presigner``, which also makes the download links) sent over a small pool of keep-alive
``http.client`` connections. Writes, rare and conditional, go through boto3. Credentials come
from one ``boto3.Session``, frozen for each signature, so botocore refreshes expiring ones.
"""

from __future__ import annotations

import builtins
import http.client
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from labcas_workflow_api.domain.errors import (
    BadRequest,
    LabcasError,
    NotFound,
    PreconditionFailed,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.domain.models import Fetched, Listing, ObjectInfo, Write
from labcas_workflow_api.storage.s3_http import (
    Answer,
    ConnectionPool,
    Credentials,
    HttpError,
    SigV4Presigner,
    bare_etag,
    error_code,
    parse_list,
)

if TYPE_CHECKING:
    from boto3.session import Session
    from botocore.credentials import Credentials as BotoCredentials
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

_DNS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_AWS_S3_HOST = re.compile(r"^s3([.-][a-z0-9-]+)?\.amazonaws\.com$")
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "NotFound", "404"}
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "503"}
# 409 ConditionalRequestConflict: AWS's answer to a conditional write racing another one
_PRECONDITION_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412"}
_MAX_KEYS = 1000

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class S3Store:
    """``StagingStore`` over S3 or an S3-compatible server (``endpoint_url``); ``max_workers``
    bounds the requests of all ``*_many`` calls together."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        session: Session | None = None,
        max_workers: int = 16,
        connect_timeout: float = 3.0,
        read_timeout: float = 15.0,
        max_attempts: int = 3,
    ) -> None:
        self._endpoint_url = endpoint_url or None
        self._region = region or None
        self._session = session
        self.max_workers = max_workers
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self._lock = threading.RLock()  # reentrant: a client is built from a session built first
        self._client: S3Client | None = None
        self._credentials: BotoCredentials | None = None
        self._presigner: SigV4Presigner | None = None
        self._pools: dict[str, ConnectionPool] = {}
        self._executor: ThreadPoolExecutor | None = None

    def _once(self, name: str, build: Callable[[], T]) -> T:
        """The attribute ``name``, built by ``build`` when it is None, by one thread."""
        value: T | None = getattr(self, name)
        if value is None:
            with self._lock:
                value = getattr(self, name)
                if value is None:
                    value = build()
                    setattr(self, name, value)
        return value

    @property
    def session(self) -> Session:
        return self._once("_session", _new_session)

    @property
    def client(self) -> S3Client:
        """The boto3 client (writes, bucket checks), built on first use."""
        return self._once("_client", self._build_client)

    def _build_client(self) -> S3Client:
        from botocore.config import Config

        config = Config(
            signature_version="s3v4",
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"max_attempts": self.max_attempts, "mode": "standard"},
            max_pool_connections=max(10, self.max_workers),
            s3={"addressing_style": "path" if self._endpoint_url else "auto"},
        )
        return self.session.client(
            "s3", endpoint_url=self._endpoint_url, region_name=self._region, config=config
        )

    @property
    def region(self) -> str:
        return self._region or self.session.region_name or "us-east-1"

    @property
    def presigner(self) -> SigV4Presigner:
        return self._once("_presigner", lambda: SigV4Presigner(self.region))

    def credentials(self) -> Credentials:
        """The session's credentials as they are now (botocore refreshes expiring ones)."""
        credentials = self._once("_credentials", lambda: self.session.get_credentials())
        if credentials is None:
            raise UpstreamBadResponse("no AWS credentials available to sign S3 requests")
        frozen = credentials.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise UpstreamBadResponse("the AWS credentials to sign S3 requests are incomplete")
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
                pool = self._pools.setdefault(
                    base_url,
                    ConnectionPool(
                        base_url, self.connect_timeout, self.read_timeout, self.max_workers
                    ),
                )
        return pool

    def _signed(
        self, method: str, bucket: str, key: str, query: dict[str, str] | None = None
    ) -> Answer:
        """A ``GET`` or ``HEAD`` signed by us; raises ``HttpError`` for non-2xx answers."""
        base, path = self.object_url(bucket, key)
        url = self.presigner.presign(method, base, path, self.credentials(), 300, query=query)
        answer = self._pool(base).request(method, url[len(base) :], self.max_attempts)
        if answer.status >= 300:
            code, message = error_code(answer.body, answer.status)
            raise HttpError(answer.status, code, message)
        return answer

    def _map(self, call: Callable[[K], V], items: builtins.list[K]) -> builtins.list[V]:
        """``call`` on each item, concurrently (in the caller's thread for a single one)."""
        if len(items) <= 1:
            return [call(item) for item in items]
        executor = self._once(
            "_executor", lambda: ThreadPoolExecutor(self.max_workers, thread_name_prefix="s3")
        )
        return list(executor.map(call, items))

    def close(self) -> None:
        """Release the thread pool and idle connections."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        for pool in list(self._pools.values()):
            pool.close()

    def list(
        self, bucket: str, prefix: str, *, start_after: str | None = None, limit: int = 1000
    ) -> Listing:
        if limit < 1:
            raise BadRequest("limit must be at least 1")
        if start_after is not None and not start_after.startswith(prefix):
            raise BadRequest("a listing cannot start outside its prefix")
        query = {
            "list-type": "2",
            "delimiter": "/",
            "prefix": prefix,
            "encoding-type": "url",
            "max-keys": str(min(_MAX_KEYS, limit + 1)),  # the first may be start_after again
        }
        if start_after:
            query["start-after"] = start_after
        prefixes: builtins.list[str] = []
        objects: builtins.list[ObjectInfo] = []
        with _mapped(f"listing s3://{bucket}/{prefix}"):
            while True:
                page = parse_list(self._signed("GET", bucket, "", query).body)
                for key, info in page.entries:
                    if start_after is not None and key <= start_after:
                        continue  # a sub-folder listed again after its own name
                    if info is not None and (key == prefix or key.endswith("/")):
                        continue  # a "folder" marker
                    if len(prefixes) + len(objects) == limit:
                        return Listing(prefixes, objects, truncated=True)
                    if info is None:
                        prefixes.append(key)
                    else:
                        objects.append(info)
                if not page.next_token:
                    return Listing(prefixes, objects)
                if len(prefixes) + len(objects) == limit:
                    return Listing(prefixes, objects, truncated=True)  # not one page more
                query.pop("start-after", None)
                query["continuation-token"] = page.next_token

    def presign_get(self, bucket: str, key: str, ttl: int) -> str:
        with _mapped(f"presigning s3://{bucket}/{key}"):
            base, path = self.object_url(bucket, key)
            return self.presigner.presign("GET", base, path, self.credentials(), ttl)

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's info, or None when it does not exist."""
        try:
            with _mapped(f"s3://{bucket}/{key}"):
                answer = self._signed("HEAD", bucket, key)
        except NotFound:
            return None
        modified = answer.header("Last-Modified")
        return ObjectInfo(
            key=key,
            size=int(answer.header("Content-Length") or 0),
            last_modified=(
                parsedate_to_datetime(modified) if modified else datetime.fromtimestamp(0, UTC)
            ),
            etag=bare_etag(answer.header("ETag")),
        )

    def head_many(self, bucket: str, keys: builtins.list[str]) -> dict[str, ObjectInfo]:
        found = self._map(lambda key: self.head(bucket, key), keys)
        return {key: info for key, info in zip(keys, found, strict=True) if info is not None}

    def get(self, bucket: str, key: str) -> Fetched | None:
        """A small object and the ETag of that body, or None when it does not exist."""
        try:
            with _mapped(f"s3://{bucket}/{key}"):
                answer = self._signed("GET", bucket, key)
        except NotFound:
            return None
        return Fetched(answer.body, bare_etag(answer.header("ETag")))

    def get_many(self, bucket: str, keys: builtins.list[str]) -> dict[str, Fetched]:
        fetched = self._map(lambda key: self.get(bucket, key), keys)
        return {key: found for key, found in zip(keys, fetched, strict=True) if found is not None}

    def put(self, bucket: str, write: Write) -> None:
        """Write one object; ``PreconditionFailed`` when its condition does not hold."""
        options: dict[str, Any] = {}
        if write.if_match is not None:
            options["IfMatch"] = f'"{write.if_match}"'
        if write.if_none_match:
            options["IfNoneMatch"] = "*"
        with _mapped(f"writing s3://{bucket}/{write.key}"):
            self.client.put_object(
                Bucket=bucket,
                Key=write.key,
                Body=write.body,
                ContentType=write.content_type,
                **options,
            )

    def put_many(self, bucket: str, writes: builtins.list[Write]) -> dict[str, LabcasError | None]:
        def put(write: Write) -> LabcasError | None:
            try:
                self.put(bucket, write)
            except LabcasError as exc:
                return exc
            return None

        return {w.key: outcome for w, outcome in zip(writes, self._map(put, writes), strict=True)}

    def ping(self, bucket: str) -> None:
        with _mapped(f"bucket {bucket}"):
            self.client.head_bucket(Bucket=bucket)


def _new_session() -> Session:
    import boto3

    return boto3.Session()


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Translate botocore, HTTP and socket failures into our error tree."""
    from botocore import exceptions as boto

    try:
        yield
    except (boto.ConnectTimeoutError, boto.ReadTimeoutError, TimeoutError) as exc:
        raise UpstreamTimeout(f"storage timed out ({what})") from exc
    except (boto.EndpointConnectionError, boto.ConnectionClosedError, boto.ConnectionError) as exc:
        raise UpstreamUnavailable(f"storage unreachable ({what})") from exc
    except boto.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        raise _from_code(code, int(status or 0), what, str(error.get("Message", ""))) from exc
    except HttpError as exc:
        raise _from_code(exc.code, exc.status, what, str(exc)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise UpstreamUnavailable(f"storage unreachable ({what}): {exc}") from exc
    except boto.BotoCoreError as exc:
        raise UpstreamBadResponse(f"storage error ({what}): {exc}") from exc


def _from_code(code: str, status: int, what: str, message: str) -> LabcasError:
    if code in _NOT_FOUND_CODES or status == 404:  # callers see it: no bucket or key named
        found = "not found" if code != "NoSuchBucket" else "no bucket"
        return NotFound(f"storage: {found}", internal=f"{what}: {found}")
    if code in _PRECONDITION_CODES or status == 412:
        return PreconditionFailed(
            "storage: changed by someone else", internal=f"{what}: changed by someone else"
        )
    if code in _UNAVAILABLE_CODES or status == 503:
        return UpstreamUnavailable(f"storage unavailable ({what}): {code}")
    log.warning("storage error %s (%s) for %s: %s", code, status, what, message)
    return UpstreamBadResponse(f"storage error ({what}): {code or status}")
