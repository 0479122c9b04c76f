"""The caller's output area over HTTP: browse (JSON and HTML), annotate, hostile paths."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.unit.fakes import FakeStore

Auth = Callable[[str], dict[str, str]]
BUCKET = "labcas-staging"


@pytest.fixture
def outputs(store: FakeStore) -> FakeStore:
    store.put(BUCKET, "thomas/run1/cells.csv", b"a,b\n1,2\n")
    store.put(BUCKET, "thomas/run1/cells.csv.cfg", b"[cells.csv]\nquality = good\n")
    store.put(BUCKET, "thomas/run1/mask.png", b"PNG")
    store.put(BUCKET, "thomas/run1/sub/deep.txt", b"x")
    store.put(BUCKET, "dliu/run9/secret.csv", b"private")
    return store


class TestBrowse:
    def test_folder_listing(self, client: TestClient, auth: Auth, outputs: FakeStore) -> None:
        answer = client.get("/output-data/run1/", headers=auth("thomas"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["prefix"] == "run1/"
        assert body["folders"] == {"sub/": {"href": "http://testserver/output-data/run1/sub/"}}
        assert set(body["files"]) == {"cells.csv", "mask.png"}
        assert body["files"]["cells.csv"]["properties"] == {"quality": "good"}
        assert body["files"]["cells.csv"]["size"] == 8
        assert body["files"]["mask.png"]["href"].startswith(
            "https://s3.example/labcas-staging/thomas/run1/mask.png"
        )

    def test_root_lists_my_runs_only(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        for url in ("/output-data", "/output-data/"):
            body = client.get(url, headers=auth("thomas")).json()
            assert list(body["folders"]) == ["run1/"]

    def test_other_users_area_is_not_reachable(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        answer = client.get("/output-data/run9/", headers=auth("thomas"))
        assert answer.status_code == 404
        assert "private" not in answer.text

    def test_stage_links(self, client: TestClient, auth: Auth, outputs: FakeStore) -> None:
        body = client.get("/dev/output-data/run1", headers=auth("thomas")).json()
        assert body["folders"]["sub/"]["href"] == "http://testserver/dev/output-data/run1/sub/"

    def test_paging_with_next_link(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        first = client.get("/output-data/run1/?limit=1", headers=auth("thomas")).json()
        assert "next" in first
        names = set(first["files"]) | set(first["folders"])
        url = first["next"].replace("http://testserver", "")
        while url:
            page = client.get(url, headers=auth("thomas")).json()
            names |= set(page["files"]) | set(page["folders"])
            url = page.get("next", "").replace("http://testserver", "")
        assert names == {"cells.csv", "mask.png", "sub/"}

    def test_html_listing_is_escaped(
        self, client: TestClient, auth: Auth, store: FakeStore
    ) -> None:
        store.put(BUCKET, "thomas/r/<script>alert(1)</script>.txt", b"x")
        answer = client.get("/output-data/r/", headers={**auth("thomas"), "Accept": "text/html"})
        assert answer.headers["content-type"].startswith("text/html")
        assert "<script>alert" not in answer.text
        assert "&lt;script&gt;" in answer.text
        assert 'href="http://testserver/output-data/"' in answer.text

    @pytest.mark.parametrize(
        "path",
        [
            "/output-data/run1/..%2f..%2fdliu/run9/",
            "/output-data/run1/%2e%2e/%2e%2e/dliu/",
            "/output-data/%252e%252e/dliu/",
            "/output-data/run1%5c..%5c..%5cdliu",
            "/output-data//etc/passwd",
            "/output-data/run1/%00x",
            "/output-data/" + "a/" * 600,
        ],
    )
    def test_hostile_paths_are_400(
        self, client: TestClient, auth: Auth, outputs: FakeStore, path: str
    ) -> None:
        answer = client.get(path, headers=auth("thomas"))
        assert answer.status_code == 400, (path, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert "private" not in answer.text

    def test_unauthenticated(self, client: TestClient) -> None:
        assert client.get("/output-data/").status_code == 401


class TestAnnotate:
    def test_write_and_read_back(self, client: TestClient, auth: Auth, outputs: FakeStore) -> None:
        body = {"files": {"mask.png": {"properties": {"reviewer": "thomas", "score": "0.9"}}}}
        answer = client.put("/output-data/run1/", json=body, headers=auth("thomas"))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"updated": ["mask.png"]}
        listing = client.get("/output-data/run1/", headers=auth("thomas")).json()
        assert listing["files"]["mask.png"]["properties"] == {"reviewer": "thomas", "score": "0.9"}
        assert "mask.png.cfg" not in listing["files"]

    @pytest.mark.parametrize(
        ("body", "status", "words"),
        [
            (b"{oops", 400, "JSON"),
            (b"[]", 400, "body: Input should be an object"),
            (b'{"files": {}}', 400, "body.files: Dictionary should have at least 1 item"),
            (b'{"files": {"mask.png": {"properties": {"bad key": "v"}}}}', 400, "bad key"),
            (b'{"files": {"mask.png": {"properties": {"k": "two\\nlines"}}}}', 400, "k"),
            (b'{"files": {"mask.png": {"properties": {"k": 5}}}}', 400, "k"),
            (b'{"files": {"mask.png": {"props": {}}}}', 400, "mask.png"),
            (b'{"files": {"cells.csv.cfg": {"properties": {"k": "v"}}}}', 400, "cfg"),
            (b'{"files": {"../x": {"properties": {"k": "v"}}}}', 400, "x"),
            (b'{"files": {"ghost.png": {"properties": {"k": "v"}}}}', 404, "ghost.png"),
            (
                b'{"files": {"mask.png": {"properties": {"k": "v"}}, '
                b'"ghost.png": {"properties": {}}}}',
                404,
                "ghost.png",
            ),
        ],
    )
    def test_invalid_annotations_write_nothing(
        self,
        client: TestClient,
        auth: Auth,
        outputs: FakeStore,
        body: bytes,
        status: int,
        words: str,
    ) -> None:
        before = dict(outputs.objects[BUCKET])
        answer = client.put("/output-data/run1/", content=body, headers=auth("thomas"))
        assert answer.status_code == status, answer.text
        assert words in answer.json()["detail"]
        assert outputs.objects[BUCKET] == before

    def test_cannot_annotate_other_users_files(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        body = {"files": {"secret.csv": {"properties": {"k": "v"}}}}
        assert (
            client.put("/output-data/run9/", json=body, headers=auth("thomas")).status_code == 404
        )
