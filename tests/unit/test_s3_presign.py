"""Our SigV4 presigner against botocore's, and the S3 store's pure helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import boto3
import botocore.auth
import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from labcas_workflow_api.domain.errors import (
    BadRequest,
    LabcasError,
    NotFound,
    PreconditionFailed,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.storage.s3 import S3Store, _mapped
from labcas_workflow_api.storage.s3_http import HttpError, parse_list, signed_host

FIXED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
KEYS = ["thomas/run/a.png", "u/a b+c%é~.txt", "u/(1)*[x]!'@$&=;,?.csv", "u/ü/ẞ/ß.tif"]


def _client(
    token: str | None = None,
    endpoint: str | None = "http://127.0.0.1:9000",
    region: str = "us-east-1",
):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=token,
        region_name=region,
        config=Config(
            signature_version="s3v4", s3={"addressing_style": "path"} if endpoint else {}
        ),
    )


def _session(token: str | None = None, region: str = "us-east-1") -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=token,
        region_name=region,
    )


def _store(token: str | None = None, endpoint: str | None = "http://127.0.0.1:9000") -> S3Store:
    region = "us-east-1" if endpoint else "us-west-2"
    return S3Store(endpoint, region, session=_session(token, region))


@pytest.fixture
def frozen_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda *a, **k: FIXED.replace(tzinfo=None)
    )


def _ours(store: S3Store, bucket: str, key: str, ttl: int) -> str:
    base, path = store.object_url(bucket, key)
    return store.presigner.presign("GET", base, path, store.credentials(), ttl, now=FIXED)


class TestPresigner:
    @pytest.mark.parametrize("key", KEYS)
    @pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzE+/session=="])
    def test_url_is_the_one_boto3_makes_for_the_same_time(
        self, frozen_botocore: None, key: str, token: str | None
    ) -> None:
        client = _client(token)
        theirs = client.generate_presigned_url(
            "get_object", Params={"Bucket": "labcas-staging", "Key": key}, ExpiresIn=3600
        )
        ours = _ours(_store(token), "labcas-staging", key, 3600)
        t, o = urlsplit(theirs), urlsplit(ours)
        assert (o.scheme, o.netloc, o.path) == (t.scheme, t.netloc, t.path)
        assert dict(parse_qsl(o.query)) == dict(parse_qsl(t.query))
        if token:
            assert dict(parse_qsl(o.query))["X-Amz-Security-Token"] == token

    def test_virtual_hosted_aws_url_verifies_with_botocores_signer(
        self, frozen_botocore: None
    ) -> None:
        store = _store(endpoint=None)
        ours = _ours(store, "labcas-staging", "thomas/x y.png", 600)
        assert ours.startswith(
            "https://labcas-staging.s3.us-west-2.amazonaws.com/thomas/x%20y.png?"
        )
        request = AWSRequest(method="GET", url=ours.split("?")[0])
        creds = BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        botocore.auth.S3SigV4QueryAuth(creds, "s3", "us-west-2", expires=600).add_auth(request)
        assert dict(parse_qsl(urlsplit(ours).query)) == dict(parse_qsl(urlsplit(request.url).query))

    def test_dotted_bucket_names_use_path_style_on_aws(self) -> None:
        store = _store(endpoint=None)
        assert store.object_url("my.bucket", "k") == (
            "https://s3.us-west-2.amazonaws.com",
            "/my.bucket/k",
        )

    def test_signing_key_is_derived_once_per_day(self) -> None:
        store = _store()
        for i in range(50):
            store.presign_get("labcas-staging", f"k{i}", 60)
        assert len(store.presigner._keys) == 1

    def test_presign_get_signs_for_now_with_the_given_lifetime(self) -> None:
        url = _store().presign_get("labcas-staging", "u/a.png", 900)
        query = dict(parse_qsl(urlsplit(url).query))
        assert query["X-Amz-Expires"] == "900"
        signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 5

    def test_no_client_is_built_until_first_use(self) -> None:
        store = S3Store("http://127.0.0.1:1", "us-east-1")
        assert store._client is None
        assert store.region == "us-east-1"
        assert store._client is None
        client = store.client
        assert client is store.client
        assert client.meta.endpoint_url == "http://127.0.0.1:1"
        assert client.meta.config.connect_timeout == store.connect_timeout


class TestCredentials:
    def test_expiring_credentials_are_refreshed_by_botocore(self) -> None:
        """Temporary credentials (a Lambda role's, SSO) come from the session's provider chain
        and are renewed when they expire: the next URL is signed with the new ones."""
        now = [datetime(2026, 1, 1, tzinfo=UTC)]
        issued = iter(["ASIAFIRST", "ASIASECOND"])

        def fetch() -> dict[str, str]:
            return {
                "access_key": next(issued),
                "secret_key": "secret",
                "token": "token",
                "expiry_time": (now[0] + timedelta(hours=1)).isoformat(),
            }

        class Provider(CredentialProvider):
            METHOD = "test-refreshing"

            def load(self) -> RefreshableCredentials:
                first = fetch()
                return RefreshableCredentials(
                    first["access_key"],
                    first["secret_key"],
                    first["token"],
                    datetime.fromisoformat(first["expiry_time"]),
                    fetch,
                    self.METHOD,
                    time_fetcher=lambda: now[0],
                )

        core = botocore.session.Session()
        core.get_component("credential_provider").insert_before("env", Provider())
        store = S3Store(
            "http://127.0.0.1:9000", "us-east-1", session=boto3.Session(botocore_session=core)
        )
        assert "ASIAFIRST" in store.presign_get("labcas-staging", "k", 60)
        now[0] += timedelta(hours=2)
        assert "ASIASECOND" in store.presign_get("labcas-staging", "k", 60)
        assert store.credentials().access_key == "ASIASECOND"

    def test_no_credentials_is_a_storage_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        core = botocore.session.Session()
        monkeypatch.setattr(core, "get_credentials", lambda: None)
        store = S3Store(
            "http://127.0.0.1:9000", "us-east-1", session=boto3.Session(botocore_session=core)
        )
        with pytest.raises(UpstreamBadResponse, match="credentials"):
            store.presign_get("labcas-staging", "k", 60)


def test_a_listing_cannot_start_outside_its_prefix() -> None:
    with pytest.raises(BadRequest, match="outside"):
        _store().list("labcas-staging", "u/run/", start_after="other/x")


class TestListParsing:
    def test_url_encoded_keys_are_decoded_and_entries_sorted(self) -> None:
        body = (
            b'<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
            b"<NextContinuationToken>tok</NextContinuationToken>"
            b"<Contents><Key>u/z+%C3%A9%2B.txt</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified>"
            b"<ETag>&quot;abc&quot;</ETag><Size>12</Size></Contents>"
            b"<CommonPrefixes><Prefix>u/a%20b/</Prefix></CommonPrefixes></ListBucketResult>"
        )
        page = parse_list(body)
        assert page.next_token == "tok"
        assert [k for k, _ in page.entries] == ["u/a b/", "u/z é+.txt"]
        info = page.entries[1][1]
        assert info is not None and (info.size, info.etag) == (12, "abc")
        assert info.last_modified == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def test_a_truncated_page_without_token_is_an_error(self) -> None:
        body = b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated></ListBucketResult>'
        with pytest.raises(HttpError):
            parse_list(body)


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (EndpointConnectionError(endpoint_url="http://x"), UpstreamUnavailable),
        (ConnectionClosedError(endpoint_url="http://x"), UpstreamUnavailable),
        (ConnectTimeoutError(endpoint_url="http://x"), UpstreamTimeout),
        (ReadTimeoutError(endpoint_url="http://x"), UpstreamTimeout),
        (TimeoutError(), UpstreamTimeout),
        (ConnectionRefusedError(), UpstreamUnavailable),
        (_client_error("NoSuchKey", 404), NotFound),
        (_client_error("404", 404), NotFound),
        (_client_error("NoSuchBucket", 404), NotFound),
        (_client_error("SlowDown", 503), UpstreamUnavailable),
        (_client_error("AccessDenied", 403), UpstreamBadResponse),
        (_client_error("InternalError", 500), UpstreamBadResponse),
        (HttpError(403, "SignatureDoesNotMatch", "x"), UpstreamBadResponse),
        (HttpError(404, "NoSuchKey", "x"), NotFound),
        (HttpError(404, "404", ""), NotFound),  # a HEAD answer has no body
        (_client_error("PreconditionFailed", 412), PreconditionFailed),
        (_client_error("ConditionalRequestConflict", 409), PreconditionFailed),
    ],
)
def test_storage_failures_map_to_our_errors(raised: Exception, expected: type[LabcasError]) -> None:
    with pytest.raises(expected), _mapped("s3://b/k"):
        raise raised


@pytest.mark.parametrize(
    ("base", "host"),
    [
        ("http://127.0.0.1:9000", "127.0.0.1:9000"),
        ("https://s3.example:443", "s3.example"),
        ("http://s3.example:80", "s3.example"),
        ("https://S3.Example", "s3.example"),
        ("http://[::1]:8333", "[::1]:8333"),
    ],
)
def test_the_signed_host_is_the_one_http_clients_send(base: str, host: str) -> None:
    assert signed_host(base) == host
