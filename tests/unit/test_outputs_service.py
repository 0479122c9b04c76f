"""OutputService: path safety, browsing with paging and sidecars, caching, annotation."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.errors import BadRequest, NotFound
from labcas_workflow_api.domain.models import Fetched, Listing, ObjectInfo
from labcas_workflow_api.service.outputs import LRUCache, OutputService, normalize_path

BUCKET = "labcas-staging"
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryStore:
    """A StagingStore in memory with S3 listing semantics (delimiter, placeholders, paging)."""

    def __init__(self) -> None:
        self.before_reads: list[Callable[[], None]] = []
        self.objects: dict[str, bytes] = {}
        self.calls: Counter[str] = Counter()
        self.fetched: list[str] = []
        self.puts: list[str] = []
        self.lock = threading.Lock()

    def add(self, key: str, body: bytes = b"data") -> None:
        self.objects[key] = body

    def _info(self, key: str) -> ObjectInfo:
        body = self.objects[key]
        return ObjectInfo(key, len(body), WHEN, hashlib.md5(body).hexdigest())

    def list(
        self, bucket: str, prefix: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Listing:
        self.calls["list"] += 1
        after = base64.b64decode(cursor).decode() if cursor else ""
        entries: dict[str, ObjectInfo | None] = {}
        for key in sorted(self.objects):
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix) :]
            if "/" in rest:
                entries.setdefault(prefix + rest.split("/", 1)[0] + "/", None)
            elif key != prefix:
                entries[key] = self._info(key)
        ordered = [k for k in sorted(entries) if k > after]
        more = None
        if limit is not None and len(ordered) > limit:
            ordered = ordered[:limit]
            more = base64.b64encode(ordered[-1].encode()).decode()
        prefixes = [k for k in ordered if entries[k] is None]
        objects = [info for k in ordered if (info := entries[k]) is not None]
        return Listing(prefixes, objects, more)

    def presign_get(self, bucket: str, key: str, ttl: int) -> str:
        self.calls["presign"] += 1
        return f"https://s3.example/{bucket}/{key}?ttl={ttl}&n={self.calls['presign']}"

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        self.calls["head"] += 1
        return self._info(key) if key in self.objects else None

    def get(self, bucket: str, key: str) -> bytes:
        self.calls["get"] += 1
        if key not in self.objects:
            raise NotFound(key)
        return self.objects[key]

    def get_many(self, bucket: str, keys: list[str]) -> dict[str, Fetched]:
        self.calls["get_many"] += 1
        self.fetched += keys
        while self.before_reads:  # writers that come between a listing and the reads
            self.before_reads.pop(0)()
        return {k: Fetched(self.objects[k], self._info(k).etag) for k in keys if k in self.objects}

    def put(self, bucket: str, key: str, body: bytes, content_type: str = "text/plain") -> None:
        self.calls["put"] += 1
        self.puts.append(key)
        self.objects[key] = body

    def ping(self, bucket: str) -> None:
        self.calls["ping"] += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(store: MemoryStore, clock: Clock) -> OutputService:
    return OutputService(store, BUCKET, 3600, clock=clock)


def _cfg(name: str, **props: str) -> bytes:
    return sidecar.render(name, props)


def _seed_run(store: MemoryStore, user: str = "thomas", run: str = "run1") -> None:
    base = f"{user}/{run}/"
    store.add(base)  # folder placeholder
    store.add(base + "a.png", b"png")
    store.add(base + "a.png.cfg", _cfg("a.png", Cell_Count="42"))
    store.add(base + "b.csv", b"csv")
    store.add(base + "orphan.cfg", _cfg("orphan", x="1"))
    store.add(base + "sub/")
    store.add(base + "sub/deep.txt")
    store.add(base + "empty/")


class TestNormalizePath:
    @pytest.mark.parametrize(
        ("raw", "clean"),
        [
            ("", ""),
            ("run1", "run1"),
            ("run1/", "run1"),
            ("run1/sub/", "run1/sub"),
            ("a b/é ü/x.png", "a b/é ü/x.png"),
            ("50%done", "50%done"),
            ("a%20b", "a%20b"),
            ("...", "..."),
            ("..a/b..", "..a/b.."),
            ("x" * 1024, "x" * 1024),
        ],
    )
    def test_safe_paths_are_kept(self, raw: str, clean: str) -> None:
        assert normalize_path(raw) == clean

    @pytest.mark.parametrize(
        ("raw", "problem"),
        [
            ("..", "'..' segment"),
            ("../bob", "'..' segment"),
            ("run1/../../bob", "'..' segment"),
            ("run1/..", "'..' segment"),
            ("./run1", "'.' segment"),
            ("%2e%2e/bob", "'..' segment"),
            ("%2E%2E%2Fbob", "'..' segment"),
            (".%2e/bob", "'..' segment"),
            ("%2e./bob", "'..' segment"),
            ("%252e%252e/bob", "'..' segment"),
            ("%25252e%25252e/bob", "'..' segment"),
            ("run1%2f..%2fbob", "'..' segment"),
            ("%u002e%u002e/bob", "'..' segment"),
            ("\uff0e\uff0e/bob", "'..' segment"),
            ("\u2025/bob", "'..' segment"),
            ("%c0%ae%c0%ae/bob", "not valid UTF-8"),
            ("%e0%80%ae%e0%80%ae/bob", "not valid UTF-8"),
            ("%25c0%25ae%25c0%25ae/bob", "not valid UTF-8"),
            ("\ufffd\ufffd/bob", "invalid"),
            ("/thomas/run1", "relative"),
            ("%2fetc/passwd", "relative"),
            ("C:/x", "relative"),
            ("..\\bob", "backslash"),
            ("run1\\x", "backslash"),
            ("run1%5c..%5cbob", "backslash"),
            ("run1\x00", "control"),
            ("run1%00", "control"),
            ("run1\nx", "control"),
            ("run1%0d%0ax", "control"),
            ("a//b", "empty segment"),
            ("x" * 1025, "longer than 1024"),
            ("é" * 513, "longer than 1024"),
            ("%" + "25" * 6 + "2e", "too many times"),
        ],
    )
    def test_hostile_paths_are_rejected_naming_the_problem(self, raw: str, problem: str) -> None:
        with pytest.raises(BadRequest, match=problem):
            normalize_path(raw)

    def test_service_exposes_it(self, service: OutputService) -> None:
        assert service.normalize_path("run1/") == "run1"


class TestBrowse:
    def test_lists_folders_files_and_properties(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        _seed_run(store)
        view = service.browse("thomas", "run1")
        assert view.prefix == "run1/"
        assert [(f.name, f.path) for f in view.folders] == [
            ("empty/", "run1/empty/"),
            ("sub/", "run1/sub/"),
        ]
        assert [f.name for f in view.files] == ["a.png", "b.csv"]
        a, b = view.files
        assert a.properties == {"Cell_Count": "42"}
        assert b.properties == {}
        assert (a.size, a.last_modified, a.path) == (3, WHEN, "run1/a.png")
        assert a.url.startswith(f"https://s3.example/{BUCKET}/thomas/run1/a.png?ttl=3600")
        assert view.next_cursor is None

    def test_is_rooted_at_the_callers_area(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        _seed_run(store, user="thomas")
        _seed_run(store, user="dliu")
        store.add("thomasina/run1/secret.txt")
        assert [f.name for f in service.browse("thomas", "").folders] == ["run1/"]
        assert [f.name for f in service.browse("dliu", "run1").files] == ["a.png", "b.csv"]
        with pytest.raises(NotFound):
            service.browse("eve", "run1")

    def test_the_users_root_is_an_empty_listing_when_nothing_exists(
        self, service: OutputService
    ) -> None:
        view = service.browse("newbie", "")
        assert (view.prefix, view.folders, view.files) == ("", [], [])

    def test_a_path_naming_nothing_is_not_found(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        _seed_run(store)
        with pytest.raises(NotFound, match="run2"):
            service.browse("thomas", "run2")
        with pytest.raises(NotFound):
            service.browse("thomas", "run1/a.png")

    def test_a_folder_with_only_its_placeholder_is_empty(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        _seed_run(store)
        view = service.browse("thomas", "run1/empty/")
        assert (view.prefix, view.folders, view.files) == ("run1/empty/", [], [])

    @pytest.mark.parametrize("user", ["", "a/b", "..", "x\x00"])
    def test_odd_usernames_are_refused(self, service: OutputService, user: str) -> None:
        with pytest.raises(BadRequest):
            service.browse(user, "")

    def test_a_malformed_sidecar_gives_no_properties(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        store.add("thomas/r/a.png")
        store.add("thomas/r/a.png.cfg", b"\x00garbage without section")
        assert service.browse("thomas", "r").files[0].properties == {}

    def test_every_key_is_listed_however_many(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        for i in range(2500):
            store.add(f"thomas/big/f{i:04d}.txt")
        assert len(service.browse("thomas", "big").files) == 2500


class TestPaging:
    def _pages(self, service: OutputService, path: str, limit: int) -> list[list[str]]:
        pages, cursor = [], None
        while True:
            view = service.browse("thomas", path, limit=limit, cursor=cursor)
            pages.append([f.name for f in view.folders] + [f.name for f in view.files])
            cursor = view.next_cursor
            if cursor is None:
                return pages
            assert len(pages) < 100

    @pytest.mark.parametrize("limit", [1, 2, 3, 4, 10])
    def test_pages_cover_every_entry_once(
        self, service: OutputService, store: MemoryStore, limit: int
    ) -> None:
        _seed_run(store)
        pages = self._pages(service, "run1", limit)
        names = [n for page in pages for n in page]
        assert sorted(names) == ["a.png", "b.csv", "empty/", "sub/"]
        assert all(len(page) <= limit for page in pages)
        assert all(pages)

    def test_sidecars_are_found_across_the_page_boundary(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        # keys sort as a.png, a.png-2, a.png-2.cfg, a.png.cfg: with limit 2 the page ends
        # before both sidecars, and a.png's sidecar comes after the next page's first file
        store.add("thomas/r/a.png")
        store.add("thomas/r/a.png-2")
        store.add("thomas/r/a.png-3")
        store.add("thomas/r/a.png-2.cfg", _cfg("a.png-2", k="two"))
        store.add("thomas/r/a.png.cfg", _cfg("a.png", k="one"))
        first = service.browse("thomas", "r", limit=1)
        assert [(f.name, f.properties) for f in first.files] == [("a.png", {"k": "one"})]
        second = service.browse("thomas", "r", limit=2, cursor=first.next_cursor)
        assert [(f.name, f.properties) for f in second.files] == [
            ("a.png-2", {"k": "two"}),
            ("a.png-3", {}),
        ]
        assert second.next_cursor is None

    def test_a_sidecar_far_beyond_the_listed_chunk_is_still_read(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        store.add("thomas/r/a.png")
        for i in range(60):
            store.add(f"thomas/r/a.png-{i:02d}")
        store.add("thomas/r/a.png.cfg", _cfg("a.png", k="far"))
        view = service.browse("thomas", "r", limit=1)
        assert view.files[0].properties == {"k": "far"}
        assert "thomas/r/a.png.cfg" in store.fetched
        assert store.calls["list"] == 1

    def test_a_page_ending_right_before_its_sidecar(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        for name in ("a.png", "b.png"):
            store.add(f"thomas/r/{name}")
            store.add(f"thomas/r/{name}.cfg", _cfg(name, n=name))
        pages = [service.browse("thomas", "r", limit=1)]
        pages.append(service.browse("thomas", "r", limit=1, cursor=pages[0].next_cursor))
        assert [p.files[0].properties for p in pages] == [{"n": "a.png"}, {"n": "b.png"}]
        assert pages[1].next_cursor is None

    def test_a_cursor_is_opaque_and_checked(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        _seed_run(store)
        for cursor in ("garbage!", base64.urlsafe_b64encode(b'{"a": 5}').decode(), "W10"):
            with pytest.raises(BadRequest, match="cursor"):
                service.browse("thomas", "run1", limit=1, cursor=cursor)

    def test_a_bad_limit_is_rejected(self, service: OutputService) -> None:
        with pytest.raises(BadRequest, match="limit"):
            service.browse("thomas", "", limit=0)


class TestCaching:
    def _seed(self, store: MemoryStore, n: int = 20) -> None:
        for i in range(n):
            store.add(f"thomas/r/f{i:02d}.png")
            store.add(f"thomas/r/f{i:02d}.png.cfg", _cfg(f"f{i:02d}.png", i=str(i)))

    def test_sidecars_are_fetched_concurrently_in_one_call(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        self._seed(store)
        service.browse("thomas", "r")
        assert store.calls["get_many"] == 1
        assert store.calls["get"] == 0
        assert len(store.fetched) == 20

    def test_a_repeat_browse_reads_no_unchanged_sidecar_and_signs_nothing(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        self._seed(store)
        first = service.browse("thomas", "r")
        before = dict(store.calls)
        again = service.browse("thomas", "r")
        assert store.calls["get_many"] == before["get_many"]
        assert store.calls["presign"] == before["presign"]
        assert store.calls["list"] == before["list"] + 1
        assert [f.url for f in again.files] == [f.url for f in first.files]
        assert [f.properties for f in again.files] == [f.properties for f in first.files]

    def test_a_changed_sidecar_is_read_again(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        self._seed(store, 3)
        service.browse("thomas", "r")
        store.fetched.clear()
        store.add("thomas/r/f01.png.cfg", _cfg("f01.png", i="changed"))
        view = service.browse("thomas", "r")
        assert store.fetched == ["thomas/r/f01.png.cfg"]
        assert view.files[1].properties == {"i": "changed"}

    def test_a_sidecar_replaced_between_listing_and_read_is_cached_under_its_own_etag(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        """Listed as v1, read as v2 (a writer came in between): v2 is shown, and v1's ETag
        must not name v2's properties when v1 is written back later."""
        self._seed(store, 1)
        key = "thomas/r/f00.png.cfg"
        v1, v2 = _cfg("f00.png", v="1"), _cfg("f00.png", v="2")
        store.add(key, v1)
        store.before_reads.append(lambda: store.add(key, v2))
        assert service.browse("thomas", "r").files[0].properties == {"v": "2"}
        store.add(key, v1)
        assert service.browse("thomas", "r").files[0].properties == {"v": "1"}

    def test_presigned_urls_are_renewed_after_half_their_lifetime(
        self, service: OutputService, store: MemoryStore, clock: Clock
    ) -> None:
        self._seed(store, 2)
        first = service.browse("thomas", "r").files[0].url
        clock.now += 1799
        assert service.browse("thomas", "r").files[0].url == first
        clock.now += 2
        assert service.browse("thomas", "r").files[0].url != first

    def test_caches_are_bounded(self, store: MemoryStore, clock: Clock) -> None:
        service = OutputService(store, BUCKET, 3600, cache_size=5, clock=clock)
        self._seed(store, 20)
        service.browse("thomas", "r")
        assert len(service.sidecars) == 5
        assert len(service.urls) == 5

    def test_lru_keeps_the_recently_used(self) -> None:
        cache: LRUCache[str, int] = LRUCache(2)
        cache.put("a", 1)
        cache.put("b", 2)
        assert cache.get("a") == 1
        cache.put("c", 3)
        assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)

    def test_concurrent_browses_agree(self, service: OutputService, store: MemoryStore) -> None:
        self._seed(store, 50)
        results: list[list[dict[str, str]]] = []

        def browse() -> None:
            results.append([f.properties for f in service.browse("thomas", "r").files])

        threads = [threading.Thread(target=browse) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 8 and all(r == results[0] for r in results)


class TestAnnotate:
    def test_writes_each_files_sidecar_whole(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        _seed_run(store)
        updated = service.annotate(
            "thomas", "run1", {"a.png": {"quality": "good"}, "b.csv": {"rows": "3", "ok": "yes"}}
        )
        assert updated == ["a.png", "b.csv"]
        assert sidecar.parse(store.objects["thomas/run1/a.png.cfg"], "a.png") == {"quality": "good"}
        view = service.browse("thomas", "run1")
        assert [f.properties for f in view.files] == [
            {"quality": "good"},
            {"rows": "3", "ok": "yes"},
        ]

    def test_a_missing_data_file_is_not_found_by_name_and_nothing_is_written(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        _seed_run(store)
        with pytest.raises(NotFound, match=r"run1/ghost\.png"):
            service.annotate("thomas", "run1", {"a.png": {"k": "v"}, "ghost.png": {"k": "v"}})
        assert store.puts == []

    @pytest.mark.parametrize(
        ("files", "problem"),
        [
            ({"a.png": {"k": "v"}, "b.csv": {"bad key": "v"}}, "identifier"),
            ({"a.png": {"k": "v"}, "b.csv": {"k": "two\nlines"}}, "single line"),
            ({"a.png": {"k": "v"}, "b.csv": {"k": 5}}, "string"),
            ({"a.png": {"k": "v"}, "b.csv": {"k": None}}, "string"),
            ({"a.png": {"k": "v"}, "b.csv": ["k"]}, "object"),
            ({"a.png": {"k": "v"}, "../x": {"k": "v"}}, "slash"),
            ({"a.png": {"k": "v"}, "a.png.cfg": {"k": "v"}}, "sidecar"),
            ({}, "at least one"),
        ],
    )
    def test_everything_is_validated_before_anything_is_written(
        self, service: OutputService, store: MemoryStore, files: dict[str, Any], problem: str
    ) -> None:
        _seed_run(store)
        with pytest.raises(BadRequest, match=problem):
            service.annotate("thomas", "run1", files)
        assert store.puts == []
        assert store.calls["head"] == 0

    def test_properties_replace_the_previous_set(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        _seed_run(store)
        service.annotate("thomas", "run1", {"a.png": {"new": "1"}})
        assert service.browse("thomas", "run1").files[0].properties == {"new": "1"}

    def test_only_the_callers_area_is_written(
        self, service: OutputService, store: MemoryStore
    ) -> None:
        _seed_run(store, user="dliu")
        with pytest.raises(NotFound):
            service.annotate("thomas", "run1", {"a.png": {"k": "v"}})
        assert store.puts == []
