"""OutputService: path safety, browsing with paging and sidecars, caching, annotation."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from labcas_workflow_api import cursor
from labcas_workflow_api.cache import Recent
from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.domain.access import AccessConfig
from labcas_workflow_api.domain.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PreconditionFailed,
    UpstreamUnavailable,
)
from labcas_workflow_api.service import outputs as outputs_module
from labcas_workflow_api.service.output_paths import normalize_path
from labcas_workflow_api.service.outputs import OutputService
from tests.unit.fakes import FakeStore

BUCKET = "labcas-staging"
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
USERS = ["thomas", "dliu", "eve", "newbie"]


def listed(*users: str) -> AccessConfig:
    """An access config naming ``users`` (and no one else) in one authorized_users list."""
    workflows = {"w": {"authorized_users": list(users)}} if users else {}
    return AccessConfig.model_validate(
        {"collections": {"c": {"bucket": "edrn-data", "workflows": workflows}}}
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def access() -> list[AccessConfig]:
    """The access config the service reads (replace ``[0]`` to change it)."""
    return [listed(*USERS)]


@pytest.fixture
def service(store: FakeStore, clock: Clock, access: list[AccessConfig]) -> OutputService:
    return OutputService(store, BUCKET, 3600, clock=clock, access=lambda: access[0])


def _cfg(name: str, **props: str) -> bytes:
    return sidecar.render(name, props)


def _seed_run(store: FakeStore, user: str = "thomas", run: str = "run1") -> None:
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
        self, service: OutputService, store: FakeStore
    ) -> None:
        _seed_run(store)
        view = service.browse("thomas", "run1")
        assert view.prefix == "run1/"
        assert [(f.name, f.path) for f in view.folders] == [
            ("empty/", "run1/empty/"),
            ("sub/", "run1/sub/"),
        ]
        assert [f.name for f in view.files] == ["a.png", "b.csv", "orphan.cfg"]
        a, b, orphan = view.files
        assert a.properties == {"Cell_Count": "42"}
        assert a.properties_etag == store.etag("thomas/run1/a.png.cfg")
        assert (b.properties, b.properties_etag) == ({}, None)
        assert (orphan.properties, orphan.properties_etag) == ({}, None)
        assert (a.size, a.last_modified, a.path) == (3, WHEN, "run1/a.png")
        assert a.url.startswith(f"https://s3.example/{BUCKET}/thomas/run1/a.png?ttl=3600")
        assert view.next_cursor is None

    def test_cfg_files_without_a_data_file_are_files(
        self, service: OutputService, store: FakeStore
    ) -> None:
        """``X.cfg`` is a sidecar only when ``X`` exists; otherwise it is a file like any other
        (a workflow's own configuration output, say)."""
        store.add("thomas/r/settings.cfg", b"[run]\nthreads = 4\n")
        store.add("thomas/r/a.png")
        store.add("thomas/r/a.png.cfg", _cfg("a.png", k="v"))
        store.add("thomas/r/settings.cfg.cfg", b"[settings.cfg]\nabout = run settings\n")
        view = service.browse("thomas", "r")
        assert [(f.name, f.properties) for f in view.files] == [
            ("a.png", {"k": "v"}),
            ("settings.cfg", {"about": "run settings"}),
        ]

    def test_is_rooted_at_the_callers_area(self, service: OutputService, store: FakeStore) -> None:
        _seed_run(store, user="thomas")
        _seed_run(store, user="dliu")
        store.add("thomasina/run1/secret.txt")
        assert [f.name for f in service.browse("thomas", "").folders] == ["run1/"]
        assert [f.name for f in service.browse("dliu", "run1").files][:2] == ["a.png", "b.csv"]
        with pytest.raises(NotFound):
            service.browse("eve", "run1")

    def test_the_users_root_is_an_empty_listing_when_nothing_exists(
        self, service: OutputService
    ) -> None:
        view = service.browse("newbie", "")
        assert (view.prefix, view.folders, view.files) == ("", [], [])

    def test_a_path_naming_nothing_is_not_found(
        self, service: OutputService, store: FakeStore
    ) -> None:
        _seed_run(store)
        with pytest.raises(NotFound, match="run2"):
            service.browse("thomas", "run2")
        with pytest.raises(NotFound):
            service.browse("thomas", "run1/a.png")

    def test_a_folder_with_only_its_placeholder_is_empty(
        self, service: OutputService, store: FakeStore
    ) -> None:
        _seed_run(store)
        view = service.browse("thomas", "run1/empty/")
        assert (view.prefix, view.folders, view.files) == ("run1/empty/", [], [])

    @pytest.mark.parametrize("user", ["", "a/b", "..", "x\x00"])
    def test_odd_usernames_are_refused(self, service: OutputService, user: str) -> None:
        with pytest.raises(BadRequest):
            service.browse(user, "")

    def test_a_malformed_sidecar_gives_no_properties(
        self, service: OutputService, store: FakeStore
    ) -> None:
        store.add("thomas/r/a.png")
        store.add("thomas/r/a.png.cfg", b"\x00garbage without section")
        assert service.browse("thomas", "r").files[0].properties == {}

    def test_every_key_is_listed_however_many(
        self, service: OutputService, store: FakeStore
    ) -> None:
        for i in range(2500):
            store.add(f"thomas/big/f{i:04d}.txt")
        names, token = [], None
        while True:
            view = service.browse("thomas", "big", cursor=token)
            names += [f.name for f in view.files]
            token = view.next_cursor
            if token is None:
                break
        assert names == [f"f{i:04d}.txt" for i in range(2500)]

    def test_a_page_holds_500_entries_by_default_and_at_most_1000(
        self, service: OutputService, store: FakeStore
    ) -> None:
        for i in range(1200):
            store.add(f"thomas/big/f{i:04d}.txt")
        assert len(service.browse("thomas", "big").files) == 500
        assert len(service.browse("thomas", "big", limit=1000).files) == 1000
        with pytest.raises(BadRequest, match="limit"):
            service.browse("thomas", "big", limit=1001)


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
        self, service: OutputService, store: FakeStore, limit: int
    ) -> None:
        _seed_run(store)
        pages = self._pages(service, "run1", limit)
        names = [n for page in pages for n in page]
        assert sorted(names) == ["a.png", "b.csv", "empty/", "orphan.cfg", "sub/"]
        assert all(len(page) <= limit for page in pages)
        assert all(pages)

    def test_sidecars_are_found_across_the_page_boundary(
        self, service: OutputService, store: FakeStore
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
        self, service: OutputService, store: FakeStore
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
        self, service: OutputService, store: FakeStore
    ) -> None:
        for name in ("a.png", "b.png"):
            store.add(f"thomas/r/{name}")
            store.add(f"thomas/r/{name}.cfg", _cfg(name, n=name))
        pages = [service.browse("thomas", "r", limit=1)]
        pages.append(service.browse("thomas", "r", limit=1, cursor=pages[0].next_cursor))
        assert [p.files[0].properties for p in pages] == [{"n": "a.png"}, {"n": "b.png"}]
        assert pages[1].next_cursor is None

    def test_a_sidecar_whose_file_is_on_an_earlier_page_is_not_a_file(
        self, service: OutputService, store: FakeStore
    ) -> None:
        """Keys sort a, a-1, a-2, a.cfg: the third page starts after a-1 and meets a.cfg,
        whose data file a sorts before it; the store is asked whether a exists."""
        for name in ("a", "a-1", "a-2"):
            store.add(f"thomas/r/{name}")
        store.add("thomas/r/a.cfg", _cfg("a", k="v"))
        pages = self._pages(service, "r", 1)
        assert pages == [["a"], ["a-1"], ["a-2"]]
        assert store.calls["head"] == 1

    def test_a_sidecar_whose_file_was_deleted_meanwhile_becomes_a_file(
        self, service: OutputService, store: FakeStore
    ) -> None:
        for name in ("a", "a-1", "a-2"):
            store.add(f"thomas/r/{name}")
        store.add("thomas/r/a.cfg", _cfg("a", k="v"))
        first = service.browse("thomas", "r", limit=2)
        del store.objects[BUCKET]["thomas/r/a"]
        second = service.browse("thomas", "r", limit=2, cursor=first.next_cursor)
        assert [f.name for f in second.files] == ["a-2", "a.cfg"]

    @pytest.mark.parametrize(
        "token",
        [
            "garbage!",
            "W10",
            base64.urlsafe_b64encode(b'{"a": 5}').decode(),
            base64.urlsafe_b64encode(b'{"after":"b.csv"}').decode(),  # padded: not ours
            cursor.encode({"after": "b.csv", "x": 1}),
            cursor.encode({"after": 5}),
            cursor.encode({"after": ""}),
            cursor.encode({"after": "../../eve/run1/"}),
            cursor.encode({"after": "sub/deep.txt"}),
            cursor.encode(["2026-01-01T00:00:00+00:00", "labcas__thomas__x"]),  # a runs cursor
            "A" * 9000,
        ],
    )
    def test_a_cursor_is_opaque_and_checked(
        self, service: OutputService, store: FakeStore, token: str
    ) -> None:
        _seed_run(store)
        with pytest.raises(BadRequest, match="cursor"):
            service.browse("thomas", "run1", limit=1, cursor=token)

    def test_a_page_is_cut_before_its_listing_grows_too_large(
        self, service: OutputService, store: FakeStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(outputs_module, "MAX_PAGE_BYTES", 20_000)
        for i in range(30):
            name = f"f{i:02d}.png"
            store.add(f"thomas/r/{name}")
            store.add(f"thomas/r/{name}.cfg", _cfg(name, **{f"k{j}": "v" * 90 for j in range(20)}))
        pages = self._pages(service, "r", 1000)
        assert 1 < len(pages) < 30
        assert [n for page in pages for n in page] == [f"f{i:02d}.png" for i in range(30)]

    def test_a_bad_limit_is_rejected(self, service: OutputService) -> None:
        with pytest.raises(BadRequest, match="limit"):
            service.browse("thomas", "", limit=0)


class TestCaching:
    def _seed(self, store: FakeStore, n: int = 20) -> None:
        for i in range(n):
            store.add(f"thomas/r/f{i:02d}.png")
            store.add(f"thomas/r/f{i:02d}.png.cfg", _cfg(f"f{i:02d}.png", i=str(i)))

    def test_sidecars_are_fetched_concurrently_in_one_call(
        self, service: OutputService, store: FakeStore
    ) -> None:
        self._seed(store)
        service.browse("thomas", "r")
        assert store.calls["get_many"] == 1
        assert len(store.fetched) == 20

    def test_a_repeat_browse_reads_no_unchanged_sidecar_and_signs_nothing(
        self, service: OutputService, store: FakeStore
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
        self, service: OutputService, store: FakeStore
    ) -> None:
        self._seed(store, 3)
        service.browse("thomas", "r")
        store.fetched.clear()
        store.add("thomas/r/f01.png.cfg", _cfg("f01.png", i="changed"))
        view = service.browse("thomas", "r")
        assert store.fetched == ["thomas/r/f01.png.cfg"]
        assert view.files[1].properties == {"i": "changed"}

    def test_a_sidecar_replaced_between_listing_and_read_is_cached_under_its_own_etag(
        self, service: OutputService, store: FakeStore
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
        self, service: OutputService, store: FakeStore, clock: Clock
    ) -> None:
        self._seed(store, 2)
        first = service.browse("thomas", "r").files[0].url
        clock.now += 1799
        assert service.browse("thomas", "r").files[0].url == first
        clock.now += 2
        assert service.browse("thomas", "r").files[0].url != first

    def test_caches_are_bounded(self, store: FakeStore, clock: Clock) -> None:
        service = OutputService(
            store, BUCKET, 3600, cache_size=5, clock=clock, access=lambda: listed("thomas")
        )
        self._seed(store, 20)
        service.browse("thomas", "r")
        assert len(service.sidecars) == 5
        assert len(service.urls) == 5

    def test_lru_keeps_the_recently_used(self) -> None:
        cache: Recent[str, int] = Recent(2)
        cache.put("a", 1)
        cache.put("b", 2)
        assert cache.get("a") == 1
        cache.put("c", 3)
        assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)

    def test_concurrent_browses_agree(self, service: OutputService, store: FakeStore) -> None:
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
        self, service: OutputService, store: FakeStore
    ) -> None:
        _seed_run(store)
        updated = service.annotate(
            "thomas", "run1", {"a.png": {"quality": "good"}, "b.csv": {"rows": "3", "ok": "yes"}}
        )
        assert updated == ["a.png", "b.csv"]
        assert sidecar.parse(store.body("thomas/run1/a.png.cfg"), "a.png") == {"quality": "good"}
        view = service.browse("thomas", "run1")
        assert [f.properties for f in view.files][:2] == [
            {"quality": "good"},
            {"rows": "3", "ok": "yes"},
        ]

    def test_a_missing_data_file_is_not_found_by_name_and_nothing_is_written(
        self, service: OutputService, store: FakeStore
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
        self, service: OutputService, store: FakeStore, files: dict[str, Any], problem: str
    ) -> None:
        _seed_run(store)
        with pytest.raises(BadRequest, match=problem):
            service.annotate("thomas", "run1", files)
        assert store.puts == []
        assert store.calls["head"] == 0

    def test_the_longest_sidecar_key_is_counted_in_bytes(
        self, service: OutputService, store: FakeStore
    ) -> None:
        folder = "run1/" + "d" * 700  # thomas/run1/ddd.../ is 713 bytes
        files = {"a" * 250: {"k": "v"}, "\u00e9" * 200: {"k": "v"}}  # 250 and 400 bytes
        with pytest.raises(BadRequest, match="too long for a sidecar"):
            service.annotate("thomas", folder, files)  # 713 + 400 + 4 > 1,024
        assert store.puts == []
        assert store.calls["head"] == 0

    def test_properties_replace_the_previous_set(
        self, service: OutputService, store: FakeStore
    ) -> None:
        _seed_run(store)
        service.annotate("thomas", "run1", {"a.png": {"new": "1"}})
        assert service.browse("thomas", "run1").files[0].properties == {"new": "1"}

    def test_only_the_callers_area_is_written(
        self, service: OutputService, store: FakeStore
    ) -> None:
        _seed_run(store, user="dliu")
        with pytest.raises(NotFound):
            service.annotate("thomas", "run1", {"a.png": {"k": "v"}})
        assert store.puts == []

    def test_a_cfg_file_is_listed_but_cannot_be_annotated(
        self, service: OutputService, store: FakeStore
    ) -> None:
        _seed_run(store)
        with pytest.raises(BadRequest, match="sidecar"):
            service.annotate("thomas", "run1", {"orphan.cfg": {"k": "v"}})

    def test_a_thousand_files_are_checked_and_written_in_one_call_each(
        self, service: OutputService, store: FakeStore
    ) -> None:
        """The store works on them concurrently (its own bound): one existence check and one
        write call for the whole request, not 2,000 calls in turn."""
        names = [f"f{i:04d}.png" for i in range(1000)]
        for name in names:
            store.add(f"thomas/big/{name}")
        updated = service.annotate("thomas", "big", {n: {"i": n} for n in names})
        assert updated == names
        assert (store.calls["head_many"], store.calls["put_many"], store.calls["put"]) == (
            1,
            1,
            1000,
        )
        with pytest.raises(BadRequest, match="at most 1000"):
            service.annotate("thomas", "big", {f"g{i}": {} for i in range(1001)})


class TestConditionalAnnotate:
    """``expected``: each file's sidecar ETag as listed (None: no sidecar yet)."""

    def test_a_write_with_the_current_etag_succeeds(
        self, service: OutputService, store: FakeStore
    ) -> None:
        _seed_run(store)
        listed = {f.name: f.properties_etag for f in service.browse("thomas", "run1").files}
        assert listed["b.csv"] is None
        expected = {"a.png": listed["a.png"], "b.csv": None}
        files = {"a.png": {"v": "2"}, "b.csv": {"v": "1"}}
        assert service.annotate("thomas", "run1", files, expected=expected) == ["a.png", "b.csv"]
        after = {f.name: f for f in service.browse("thomas", "run1").files}
        assert after["a.png"].properties == {"v": "2"}
        assert after["a.png"].properties_etag == store.etag("thomas/run1/a.png.cfg")
        assert after["a.png"].properties_etag != listed["a.png"]

    @pytest.mark.parametrize(
        "expected",
        [{"a.png": "0" * 32}, {"a.png": None}, {"b.csv": "0" * 32}],
        ids=["other etag", "none expected, one exists", "one expected, none exists"],
    )
    def test_a_stale_etag_is_412_and_nothing_is_written(
        self, service: OutputService, store: FakeStore, expected: dict[str, str | None]
    ) -> None:
        _seed_run(store)
        files = {"a.png": {"v": "2"}, "b.csv": {"v": "2"}}
        with pytest.raises(PreconditionFailed, match=next(iter(expected))):
            service.annotate("thomas", "run1", files, expected=expected)
        assert store.puts == []

    @pytest.mark.parametrize("etag", ["", 'a"b', "a\nb", "x" * 201, 5])
    def test_a_malformed_etag_is_400(
        self, service: OutputService, store: FakeStore, etag: Any
    ) -> None:
        _seed_run(store)
        with pytest.raises(BadRequest, match="etag"):
            service.annotate("thomas", "run1", {"a.png": {}}, expected={"a.png": etag})

    def test_a_writer_coming_between_check_and_write_loses_where_writes_are_conditional(
        self, service: OutputService, store: FakeStore
    ) -> None:
        """What is guaranteed where the store honours If-Match (S3, SeaweedFS): the write that
        finds the sidecar changed since the check fails, and the answer names what was
        written."""
        _seed_run(store)
        etag = store.etag("thomas/run1/a.png.cfg")
        intruder = _cfg("a.png", by="intruder")
        store.before_writes.append(lambda: store.add("thomas/run1/a.png.cfg", intruder))
        files = {"a.png": {"by": "me"}, "b.csv": {"by": "me"}}
        with pytest.raises(PreconditionFailed, match=r"a\.png.*written: b\.csv"):
            service.annotate("thomas", "run1", files, expected={"a.png": etag})
        assert store.body("thomas/run1/a.png.cfg") == intruder
        assert sidecar.parse(store.body("thomas/run1/b.csv.cfg"), "b.csv") == {"by": "me"}

    def test_without_conditional_writes_only_the_check_protects(
        self, clock: Clock, access: list[AccessConfig]
    ) -> None:
        """What is not guaranteed where the store ignores If-Match: a stale ETag is still
        refused (the check before writing), but a writer coming between that check and the
        write is overwritten."""
        store = FakeStore(conditional_writes=False)
        service = OutputService(store, BUCKET, 3600, clock=clock, access=lambda: access[0])
        _seed_run(store)
        etag = store.etag("thomas/run1/a.png.cfg")
        with pytest.raises(PreconditionFailed):
            service.annotate("thomas", "run1", {"a.png": {}}, expected={"a.png": "0" * 32})
        store.before_writes.append(
            lambda: store.add("thomas/run1/a.png.cfg", _cfg("a.png", by="intruder"))
        )
        service.annotate("thomas", "run1", {"a.png": {"by": "me"}}, expected={"a.png": etag})
        assert sidecar.parse(store.body("thomas/run1/a.png.cfg"), "a.png") == {"by": "me"}

    def test_a_store_failure_names_what_was_written(
        self, service: OutputService, store: FakeStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _seed_run(store)
        put = store._put

        def failing(bucket: str, write: Any) -> Any:
            if write.key.endswith("a.png.cfg"):
                return UpstreamUnavailable("storage unavailable")
            return put(bucket, write)

        monkeypatch.setattr(store, "_put", failing)
        with pytest.raises(UpstreamUnavailable, match=r"written: b\.csv"):
            service.annotate("thomas", "run1", {"a.png": {"k": "v"}, "b.csv": {"k": "v"}})


class TestAccess:
    """Outputs belong to users the access config lists, and to no one else."""

    def test_a_user_listed_nowhere_is_forbidden_and_nothing_is_read_or_written(
        self, service: OutputService, store: FakeStore, access: list[AccessConfig]
    ) -> None:
        _seed_run(store, user="mallory")
        with pytest.raises(Forbidden):
            service.browse("mallory", "run1")
        with pytest.raises(Forbidden):
            service.annotate("mallory", "run1", {"a.png": {"k": "v"}})
        with pytest.raises(Forbidden):
            service.browse("mallory", "run1", cursor="garbage!")
        assert (store.calls["list"], store.calls["head"], store.puts) == (0, 0, [])

    def test_a_user_removed_from_the_config_loses_access_at_once(
        self, service: OutputService, store: FakeStore, access: list[AccessConfig]
    ) -> None:
        _seed_run(store)
        assert service.browse("thomas", "run1").files
        access[0] = listed("dliu")
        with pytest.raises(Forbidden):
            service.browse("thomas", "run1")
        with pytest.raises(Forbidden):
            service.annotate("thomas", "run1", {"a.png": {"k": "v"}})
