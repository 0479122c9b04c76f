"""S3Store and OutputService against a real SeaweedFS S3 server."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from labcas_workflow_api.devstack.seaweed import SeaweedS3, start_seaweed
from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.errors import (
    BadRequest,
    NotFound,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.service.outputs import OutputService
from labcas_workflow_api.storage.s3 import S3Store
from tests.integration.storage_fixtures import STAGING_BUCKET

pytestmark = pytest.mark.integration

ODD_NAMES = ["a b+c%.txt", "é/ü ß.tif", "x(1)[2]{3}!'@$&=;,~.csv", "tab\tand‰.txt"]


def _store(server: SeaweedS3, **kwargs: object) -> S3Store:
    return S3Store(server.endpoint_url, server.region, s3_client=server.client(), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=[True, False], ids=["fast-reads", "boto3-reads"])
def store(request: pytest.FixtureRequest, s3_server: SeaweedS3) -> Iterator[S3Store]:
    store = _store(s3_server, fast_reads=request.param)
    yield store
    store.close()


@pytest.fixture
def area(s3_server: SeaweedS3) -> str:
    """A fresh prefix in the staging bucket."""
    return f"it-{uuid.uuid4().hex[:10]}/"


@pytest.fixture(scope="module")
def big_folder(s3_server: SeaweedS3) -> str:
    """2,500 objects, 20 sub-folders and a placeholder under one prefix."""
    prefix = f"big-{uuid.uuid4().hex[:8]}/"
    client = s3_server.client(max_pool_connections=8)
    keys = [f"{prefix}f{i:05d}.dat" for i in range(2500)]
    keys += [f"{prefix}sub{i:02d}/x" for i in range(20)] + [prefix]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=STAGING_BUCKET, Key=k, Body=b"1"), keys))
    return prefix


class TestList:
    def test_every_key_is_listed_across_pages(self, store: S3Store, big_folder: str) -> None:
        listing = store.list(STAGING_BUCKET, big_folder)
        assert len(listing.objects) == 2500
        assert listing.prefixes == [f"{big_folder}sub{i:02d}/" for i in range(20)]
        assert listing.next_cursor is None
        assert all(o.size == 1 and o.etag and o.last_modified.tzinfo for o in listing.objects)
        assert big_folder not in [o.key for o in listing.objects]

    @pytest.mark.parametrize("limit", [7, 1000, 1337])
    def test_limit_and_cursor_page_through_everything_once(
        self, store: S3Store, big_folder: str, limit: int
    ) -> None:
        seen: list[str] = []
        cursor = None
        for _ in range(1000):
            page = store.list(STAGING_BUCKET, big_folder, limit=limit, cursor=cursor)
            assert len(page.prefixes) + len(page.objects) <= limit
            seen += page.prefixes + [o.key for o in page.objects]
            cursor = page.next_cursor
            if not cursor:
                break
            if limit == 7 and len(seen) > 60:
                # skip ahead across a folder boundary instead of walking 2,500 keys by 7
                cursor = store.list(STAGING_BUCKET, big_folder, limit=2515).next_cursor
                seen = [f"{big_folder}f{i:05d}.dat" for i in range(2500)] + [
                    f"{big_folder}sub{i:02d}/" for i in range(15)
                ]
        assert len(seen) == len(set(seen)) == 2520

    def test_placeholders_are_skipped_and_odd_names_survive(
        self, store: S3Store, area: str
    ) -> None:
        for name in ODD_NAMES:
            store.put(STAGING_BUCKET, area + name, name.encode())
        store.put(STAGING_BUCKET, area, b"")
        store.put(STAGING_BUCKET, area + "folder/", b"")
        listing = store.list(STAGING_BUCKET, area)
        assert sorted(o.key for o in listing.objects) == sorted(
            area + n for n in ODD_NAMES if "/" not in n
        )
        assert sorted(listing.prefixes) == sorted([area + "folder/", area + "é/"])

    def test_a_missing_bucket_is_not_found(self, store: S3Store) -> None:
        with pytest.raises(NotFound):
            store.list("no-such-bucket-here", "x/")

    def test_a_foreign_cursor_is_refused(self, store: S3Store, area: str) -> None:
        with pytest.raises(BadRequest):
            store.list(STAGING_BUCKET, area, cursor="b3RoZXIvdXNlcg")


class TestObjects:
    def test_put_head_get(self, store: S3Store, area: str) -> None:
        store.put(STAGING_BUCKET, area + "a.cfg", b"[a]\nk = v\n")
        info = store.head(STAGING_BUCKET, area + "a.cfg")
        assert info is not None and info.size == 10 and info.etag
        assert store.get(STAGING_BUCKET, area + "a.cfg") == b"[a]\nk = v\n"
        listed = store.list(STAGING_BUCKET, area).objects[0]
        assert listed.etag == info.etag

    def test_missing_objects(self, store: S3Store, area: str) -> None:
        assert store.head(STAGING_BUCKET, area + "nope") is None
        with pytest.raises(NotFound):
            store.get(STAGING_BUCKET, area + "nope")

    def test_get_many_leaves_missing_ones_out(self, store: S3Store, area: str) -> None:
        keys = [f"{area}{i}.cfg" for i in range(40)] + [area + n for n in ODD_NAMES]
        for key in keys:
            store.put(STAGING_BUCKET, key, key.encode())
        fetched = store.get_many(STAGING_BUCKET, [*keys, area + "missing", area + "gone/x"])
        assert {k: f.body for k, f in fetched.items()} == {k: k.encode() for k in keys}

    def test_get_many_gives_the_etag_the_listing_shows(self, store: S3Store, area: str) -> None:
        """What the sidecar cache relies on: an unchanged object is read with its listed ETag."""
        keys = [f"{area}etag{i}.cfg" for i in range(3)]
        for key in keys:
            store.put(STAGING_BUCKET, key, b"[x]\nk = " + key.encode())
        listed = {o.key: o.etag for o in store.list(STAGING_BUCKET, area + "etag").objects}
        fetched = store.get_many(STAGING_BUCKET, keys)
        assert {k: f.etag for k, f in fetched.items()} == listed
        assert all(listed.values())

    def test_ping(self, store: S3Store) -> None:
        store.ping(STAGING_BUCKET)
        with pytest.raises(NotFound):
            store.ping("no-such-bucket-here")


class TestPresignedUrls:
    @pytest.mark.parametrize("name", ["plain.png", *ODD_NAMES])
    def test_download_with_httpx(self, store: S3Store, area: str, name: str) -> None:
        store.put(STAGING_BUCKET, area + name, b"payload " + name.encode())
        url = store.presign_get(STAGING_BUCKET, area + name, 120)
        answer = httpx.get(url)
        assert answer.status_code == 200
        assert answer.content == b"payload " + name.encode()

    def test_a_tampered_url_is_refused(self, store: S3Store, area: str) -> None:
        store.put(STAGING_BUCKET, area + "a.txt", b"a")
        store.put(STAGING_BUCKET, area + "b.txt", b"b")
        url = store.presign_get(STAGING_BUCKET, area + "a.txt", 120)
        assert httpx.get(url.replace("/a.txt?", "/b.txt?")).status_code == 403
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        query["X-Amz-Expires"] = "7200"
        assert httpx.get(parts._replace(query=urlencode(query)).geturl()).status_code == 403

    def test_a_url_signed_with_a_wrong_secret_is_refused(
        self, s3_server: SeaweedS3, area: str
    ) -> None:
        import boto3

        bad = S3Store(
            s3_server.endpoint_url,
            s3_server.region,
            s3_client=boto3.client(
                "s3",
                endpoint_url=s3_server.endpoint_url,
                aws_access_key_id=s3_server.access_key,
                aws_secret_access_key="not-the-secret",
                region_name=s3_server.region,
            ),
        )
        _store(s3_server).put(STAGING_BUCKET, area + "a.txt", b"a")
        assert httpx.get(bad.presign_get(STAGING_BUCKET, area + "a.txt", 60)).status_code == 403


class TestOutputServiceOverS3:
    def test_browse_and_annotate(self, s3_server: SeaweedS3) -> None:
        user = f"user{uuid.uuid4().hex[:6]}"
        store = _store(s3_server)
        outputs = OutputService(store, STAGING_BUCKET, 600)
        for i in range(30):
            store.put(STAGING_BUCKET, f"{user}/run/img{i:02d}.png", b"png")
            store.put(
                STAGING_BUCKET,
                f"{user}/run/img{i:02d}.png.cfg",
                sidecar.render(f"img{i:02d}.png", {"i": str(i)}),
            )
        store.put(STAGING_BUCKET, f"{user}/run/", b"")
        view = outputs.browse(user, "run")
        assert [f.properties for f in view.files] == [{"i": str(i)} for i in range(30)]
        assert httpx.get(view.files[3].url).content == b"png"
        names, cursor = [], None
        while True:
            page = outputs.browse(user, "run", limit=4, cursor=cursor)
            names += [(f.name, f.properties["i"]) for f in page.files]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert names == [(f"img{i:02d}.png", str(i)) for i in range(30)]
        assert outputs.annotate(user, "run", {"img05.png": {"Reviewed": "yes"}}) == ["img05.png"]
        assert outputs.browse(user, "run").files[5].properties == {"Reviewed": "yes"}
        with pytest.raises(NotFound):
            outputs.browse(user, "nothing-here")
        assert outputs.browse(user, "").folders[0].name == "run/"


class TestFailures:
    def test_a_stopped_server_is_unavailable(
        self, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        server = start_seaweed(tmp_path_factory.mktemp("seaweed-stop"), buckets=("doomed",))
        fast = _store(server, max_attempts=1, connect_timeout=1)
        slow = S3Store(
            s3_client=server.client(retries={"max_attempts": 1}, connect_timeout=1),
            fast_reads=False,
        )
        fast.put("doomed", "k", b"v")
        assert fast.get_many("doomed", ["k"])["k"].body == b"v"
        server.stop()
        for store in (fast, slow):
            with pytest.raises(UpstreamUnavailable):
                store.list("doomed", "")
            with pytest.raises(UpstreamUnavailable):
                store.get("doomed", "k")
            with pytest.raises(UpstreamUnavailable):
                store.get_many("doomed", ["k", "j"])
            with pytest.raises(UpstreamUnavailable):
                store.put("doomed", "k", b"v")
            with pytest.raises(UpstreamUnavailable):
                store.ping("doomed")

    def test_a_server_that_never_answers_times_out(self, s3_server: SeaweedS3) -> None:
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)
            url = f"http://127.0.0.1:{silent.getsockname()[1]}"
            hold: list[socket.socket] = []
            stop = threading.Event()

            def accept() -> None:
                silent.settimeout(0.2)
                while not stop.is_set():
                    try:
                        hold.append(silent.accept()[0])
                    except OSError:
                        continue

            thread = threading.Thread(target=accept, daemon=True)
            thread.start()
            try:
                import boto3
                from botocore.config import Config

                client = boto3.client(
                    "s3",
                    endpoint_url=url,
                    aws_access_key_id="k",
                    aws_secret_access_key="s",
                    region_name="us-east-1",
                    config=Config(read_timeout=0.5, retries={"max_attempts": 1}),
                )
                for fast_reads in (True, False):
                    store = S3Store(
                        url,
                        "us-east-1",
                        s3_client=client,
                        read_timeout=0.5,
                        max_attempts=1,
                        fast_reads=fast_reads,
                    )
                    with pytest.raises(UpstreamTimeout):
                        store.list(STAGING_BUCKET, "x/")
                    with pytest.raises(UpstreamTimeout):
                        store.get(STAGING_BUCKET, "x")
            finally:
                stop.set()
                thread.join()
                for conn in hold:
                    conn.close()
