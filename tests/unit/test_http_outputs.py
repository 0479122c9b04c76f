"""The caller's output area over HTTP: browse (JSON and HTML), annotate, hostile paths."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api.aws.api import ApiRuntime
from labcas_workflow_api.bootstrap import Container, build_container
from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.settings import Settings
from labcas_workflow_api.storage.s3 import S3Store
from tests.unit.fakes import FakeEngine, FakeStore
from tests.unit.test_aws_events import proxy_event

Auth = Callable[[str], dict[str, str]]
BUCKET = "labcas-staging"


@pytest.fixture
def outputs(store: FakeStore) -> FakeStore:
    store.add("thomas/run1/cells.csv", b"a,b\n1,2\n")
    store.add("thomas/run1/cells.csv.cfg", b"[cells.csv]\nquality = good\n")
    store.add("thomas/run1/mask.png", b"PNG")
    store.add("thomas/run1/sub/deep.txt", b"x")
    store.add("dliu/run9/secret.csv", b"private")
    return store


class TestBrowse:
    def test_folder_listing(self, client: TestClient, auth: Auth, outputs: FakeStore) -> None:
        answer = client.get("/output-data/run1/", headers=auth("thomas"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["prefix"] == "run1/"
        assert body["folders"] == {
            "sub/": {
                "href": "http://testserver/output-data/run1/sub/",
                "web_url": "http://testserver/ui/#/outputs/run1/sub",
            }
        }
        assert body["web_url"] == "http://testserver/ui/#/outputs/run1"
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
        store.add("thomas/r/<script>alert(1)</script>.txt", b"x")
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

    def test_properties_etag_is_the_sidecars_or_null(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        files = client.get("/output-data/run1/", headers=auth("thomas")).json()["files"]
        assert files["cells.csv"]["properties_etag"] == outputs.etag("thomas/run1/cells.csv.cfg")
        assert files["mask.png"]["properties_etag"] is None

    def test_a_page_is_500_entries_by_default_with_a_next_link(
        self, client: TestClient, auth: Auth, store: FakeStore
    ) -> None:
        for i in range(1001):
            store.add(f"thomas/big/f{i:04d}.txt")
        first = client.get("/output-data/big", headers=auth("thomas")).json()
        assert len(first["files"]) == 500
        assert first["next"].startswith("http://testserver/output-data/big/?cursor=")
        second = client.get(first["next"], headers=auth("thomas")).json()
        assert next(iter(second["files"])) == "f0500.txt" and "next" in second
        whole = client.get("/output-data/big?limit=1000", headers=auth("thomas")).json()
        assert len(whole["files"]) == 1000
        assert "limit=1000" in whole["next"]
        last = client.get(whole["next"], headers=auth("thomas")).json()
        assert list(last["files"]) == ["f1000.txt"] and "next" not in last

    @pytest.mark.parametrize("query", ["limit=0", "limit=1001", "cursor=" + "A" * 9000])
    def test_out_of_range_paging_is_400(
        self, client: TestClient, auth: Auth, outputs: FakeStore, query: str
    ) -> None:
        answer = client.get(f"/output-data/run1/?{query}", headers=auth("thomas"))
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json"

    def test_html_sizes_are_in_binary_units(
        self, client: TestClient, auth: Auth, store: FakeStore
    ) -> None:
        store.add("thomas/r/small.txt", b"x" * 1000)
        store.add("thomas/r/large.bin", b"x" * 1536)
        page = client.get("/output-data/r/", headers={**auth("thomas"), "Accept": "text/html"})
        assert "<td>1000 B</td>" in page.text
        assert "<td>1.5 KiB</td>" in page.text


class TestAccess:
    """A caller the access config lists nowhere may not use outputs, even their own."""

    @pytest.mark.parametrize(
        ("method", "accept"),
        [("GET", "application/json"), ("GET", "text/html"), ("PUT", "application/json")],
    )
    def test_a_user_in_no_list_is_403(
        self, client: TestClient, auth: Auth, store: FakeStore, method: str, accept: str
    ) -> None:
        store.add("mallory/run1/loot.csv", b"x")
        body = {"files": {"loot.csv": {"properties": {"k": "v"}}}}
        answer = client.request(
            method,
            "/output-data/run1/",
            headers={**auth("mallory"), "Accept": accept},
            json=body if method == "PUT" else None,
        )
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "loot" not in answer.text
        assert "mallory/run1/loot.csv.cfg" not in store.objects["labcas-staging"]

    def test_a_user_removed_from_the_config_is_403_after_it_is_read_again(
        self, client: TestClient, auth: Auth, outputs: FakeStore, settings: Settings
    ) -> None:
        assert client.get("/output-data/run1/", headers=auth("thomas")).status_code == 200
        config = Path(settings.config)
        config.write_text(
            config.read_text()
            .replace("[thomas, dliu]", "[dliu]")
            .replace("authorized_users: [thomas]", "authorized_users: [dliu]")
        )
        client.app.state.container.access.invalidate()  # type: ignore[attr-defined]
        assert client.get("/output-data/run1/", headers=auth("thomas")).status_code == 403


class TestOnLambda:
    """The same rule through the API Lambda handler: the authorizer's cached Allow for a user
    since removed from the config does not open their outputs."""

    @pytest.mark.parametrize("method", ["GET", "PUT"])
    def test_a_user_in_no_list_is_403(
        self, container: Container, store: FakeStore, method: str
    ) -> None:
        store.add("mallory/run1/loot.csv", b"x")
        body = json.dumps({"files": {"loot.csv": {"properties": {"k": "v"}}}})
        runtime = ApiRuntime(create_app(container=container))
        try:
            event = proxy_event(
                method,
                "/output-data/run1",
                username="mallory",
                body=body if method == "PUT" else None,
                content_type="application/json" if method == "PUT" else None,
            )
            result = runtime.handle(event, None)
            allowed = runtime.handle(proxy_event("GET", "/output-data/", username="thomas"), None)
        finally:
            runtime.close()
        assert result["statusCode"] == 403, result
        assert json.loads(result["body"])["title"] == "Forbidden"
        assert allowed["statusCode"] == 200, allowed
        assert "mallory/run1/loot.csv.cfg" not in store.objects["labcas-staging"]


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

    def test_if_match_with_the_listed_etag_writes(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        listed = client.get("/output-data/run1/", headers=auth("thomas")).json()["files"]
        etag = listed["cells.csv"]["properties_etag"]
        for quoted in (True, False):
            body = {"files": {"cells.csv": {"properties": {"quality": f"quoted {quoted}"}}}}
            header = f'"{etag}"' if quoted else etag
            answer = client.put(
                "/output-data/run1/", json=body, headers={**auth("thomas"), "If-Match": header}
            )
            assert answer.status_code == 200, answer.text
            etag = outputs.etag("thomas/run1/cells.csv.cfg")

    def test_if_match_with_another_etag_is_412_and_writes_nothing(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        before = outputs.body("thomas/run1/cells.csv.cfg")
        body = {"files": {"cells.csv": {"properties": {"quality": "worse"}}}}
        answer = client.put(
            "/output-data/run1/", json=body, headers={**auth("thomas"), "If-Match": '"0123abcd"'}
        )
        assert answer.status_code == 412, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "cells.csv" in answer.json()["detail"]
        assert outputs.body("thomas/run1/cells.csv.cfg") == before

    def test_per_file_etags_in_the_body(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        listed = client.get("/output-data/run1/", headers=auth("thomas")).json()["files"]
        body = {
            "files": {
                name: {"properties": {"seen": "yes"}, "etag": entry["properties_etag"]}
                for name, entry in listed.items()
            }
        }
        assert client.put("/output-data/run1/", json=body, headers=auth("thomas")).json() == {
            "updated": ["cells.csv", "mask.png"]
        }
        again = client.put("/output-data/run1/", json=body, headers=auth("thomas"))
        assert again.status_code == 412
        assert "cells.csv, mask.png" in again.json()["detail"]

    @pytest.mark.parametrize(
        ("files", "if_match", "words"),
        [
            (
                {"cells.csv": {"properties": {}}, "mask.png": {"properties": {}}},
                '"abc"',
                "If-Match applies to a PUT naming one file",
            ),
            ({"cells.csv": {"properties": {}}}, "*", "one ETag"),
            ({"cells.csv": {"properties": {}}}, '"a", "b"', "one ETag"),
            ({"cells.csv": {"properties": {}, "etag": "abc"}}, '"abd"', "differ"),
            ({"cells.csv": {"properties": {}, "etag": 5}}, None, "etag"),
        ],
    )
    def test_malformed_preconditions_are_400(
        self,
        client: TestClient,
        auth: Auth,
        outputs: FakeStore,
        files: dict[str, object],
        if_match: str | None,
        words: str,
    ) -> None:
        headers = {**auth("thomas"), **({"If-Match": if_match} if if_match else {})}
        answer = client.put("/output-data/run1/", json={"files": files}, headers=headers)
        assert answer.status_code == 400, answer.text
        assert words in answer.json()["detail"]

    def test_cannot_annotate_other_users_files(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        body = {"files": {"secret.csv": {"properties": {"k": "v"}}}}
        assert (
            client.put("/output-data/run9/", json=body, headers=auth("thomas")).status_code == 404
        )


class TestListingsReused:
    """``LABCAS_LISTING_TTL`` (2 s by default): a repeat browse is answered from the listing
    held, unless the client asks afresh or an annotation through this process dropped it."""

    def test_a_repeat_browse_lists_once_and_shows_a_new_file_when_asked_afresh(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        for url in ("/output-data/run1/", "/output-data/"):
            client.get(url, headers=auth("thomas"))
            before = outputs.calls["list"]
            assert client.get(url, headers=auth("thomas")).status_code == 200
            assert outputs.calls["list"] == before
        outputs.add("thomas/run1/new.txt")  # a workflow writes meanwhile
        held = client.get("/output-data/run1/", headers=auth("thomas")).json()
        assert "new.txt" not in held["files"]
        fresh = client.get(
            "/output-data/run1/", headers={**auth("thomas"), "Cache-Control": "no-cache"}
        ).json()
        assert "new.txt" in fresh["files"]
        again = client.get("/output-data/run1/", headers=auth("thomas")).json()
        assert "new.txt" in again["files"]  # what was listed afresh is held

    @pytest.mark.parametrize(
        "asked",
        [
            {"Cache-Control": "no-cache"},
            {"Cache-Control": "private, max-age=0"},
            {"Cache-Control": "No-Cache"},
            {"Pragma": "no-cache"},
        ],
    )
    def test_each_way_of_asking_afresh_lists_again(
        self, client: TestClient, auth: Auth, outputs: FakeStore, asked: dict[str, str]
    ) -> None:
        client.get("/output-data/run1/", headers=auth("thomas"))
        before = outputs.calls["list"]
        client.get("/output-data/run1/", headers={**auth("thomas"), **asked})
        assert outputs.calls["list"] > before

    def test_an_annotation_shows_at_once(
        self, client: TestClient, auth: Auth, outputs: FakeStore
    ) -> None:
        client.get("/output-data/run1/", headers=auth("thomas"))
        body = {"files": {"mask.png": {"properties": {"score": "0.9"}}}}
        assert client.put("/output-data/run1/", json=body, headers=auth("thomas")).is_success
        listing = client.get("/output-data/run1/", headers=auth("thomas")).json()
        assert listing["files"]["mask.png"]["properties"] == {"score": "0.9"}

    def test_a_ttl_of_0_lists_every_browse(
        self, settings: Settings, auth: Auth, outputs: FakeStore
    ) -> None:
        settings = settings.model_copy(update={"listing_ttl": 0})
        container = build_container(settings, engine=FakeEngine(), store=outputs)
        client = TestClient(create_app(container=container))
        for _ in range(2):
            client.get("/output-data/run1/", headers=auth("thomas"))
        assert outputs.calls["list"] == 2


class SessionTokenStore(FakeStore):
    """The fake store with real presigned URLs: SigV4 for AWS, signed with temporary
    credentials whose session token is as long as a Lambda role's."""

    def __init__(self) -> None:
        super().__init__()
        session = boto3.Session(
            aws_access_key_id="ASIAQ3EGXXXXXXXXXXXX",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            aws_session_token="IQoJb3JpZ2luX2VjE" + "x" * 1100,
            region_name="us-west-2",
        )
        self.s3 = S3Store(None, "us-west-2", session=session)

    def presign_get(self, bucket: str, key: str, ttl: int) -> str:
        return self.s3.presign_get(bucket, key, ttl)


def test_a_full_page_stays_far_below_the_lambda_answer_limit(
    tmp_path: Path, settings: Settings, auth: Auth
) -> None:
    """1,000 files with session-token presigned URLs and ten properties each: the JSON and
    HTML answers are measured against AWS Lambda's 6 MB (6,291,456 bytes) limit."""
    store = SessionTokenStore()
    folder = "thomas/20261128T101010123456/"
    for i in range(1000):
        name = f"sample_{i:05d}_segmentation_mask.png"
        store.add(folder + name, b"x")
        props = {f"property_{j:02d}": f"value {j} of {name}" for j in range(10)}
        store.add(folder + name + ".cfg", sidecar.render(name, props))
    app = create_app(container=build_container(settings, engine=FakeEngine(), store=store))
    client = TestClient(app, raise_server_exceptions=False)
    url = "/output-data/20261128T101010123456/?limit=1000"
    answer = client.get(url, headers=auth("thomas"))
    html = client.get(url, headers={**auth("thomas"), "Accept": "text/html"})
    files = answer.json()["files"]
    href = next(iter(files.values()))["href"]
    print(
        f"\n1,000 files, presigned URL {len(href)} bytes: JSON page {len(answer.content):,} "
        f"bytes, HTML page {len(html.content):,} bytes (limit 6,291,456)"
    )
    assert len(files) == 1000 and len(href) > 1400
    assert len(answer.content) < 3_000_000 and len(html.content) < 3_000_000
    assert len(json.dumps(answer.text)) < 3_000_000  # inside the Lambda answer's JSON envelope
