"""LabcasClient against an in-memory fake of the API (httpx.MockTransport)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from labcas_workflow_api.client import ClientError, LabcasClient, ParameterSpec
from labcas_workflow_api.client.models import progress_text, run_duration
from tests.unit.client_fake_api import API, TOKEN, FakeApi


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(fake: FakeApi) -> LabcasClient:
    return LabcasClient(API + "/", TOKEN, http=fake.client())


def _run(run_id: str, status: str = "success") -> dict[str, object]:
    return {
        "run_id": run_id,
        "workflow_id": "nebraska_demo",
        "status": status,
        "start_time": "2024-05-01T12:00:00+00:00",
        "end_time": "2024-05-01T12:01:30+00:00" if status in ("success", "failed") else None,
        "output_url": None,
        "conf": {},
    }


class TestDiscovery:
    def test_data_selections_send_the_bearer_token(self, client: LabcasClient, fake: FakeApi):
        items = client.data_selections()
        assert [d.id for d in items] == ["nebraska_images"]
        assert fake.requests[0].headers["authorization"] == f"Bearer {TOKEN}"

    def test_workflows_of_a_data_selection_use_the_query_form(
        self, client: LabcasClient, fake: FakeApi
    ):
        assert [w.id for w in client.workflows("nebraska_images")] == ["nebraska_demo"]
        assert fake.requests[0].url.params["data_id"] == "nebraska_images"

    def test_all_workflows(self, client: LabcasClient):
        assert client.workflows()[0].description == "Nuclei"

    def test_workflow_detail_parses_parameter_schemas(self, client: LabcasClient):
        detail = client.workflow("nebraska_demo")
        tile = ParameterSpec("tile_size", detail.parameters["tile_size"])
        assert (tile.type, tile.parameter.default, tile.schema["minimum"]) == ("integer", 64, 8)
        assert ParameterSpec("method", detail.parameters["method"]).enum == ["otsu", "li"]
        assert detail.data_selections == ["nebraska_images"]

    def test_the_schema_is_read_not_its_top_level_copies(self, fake: FakeApi):
        fake.parameters = {
            "n": {
                "type": "string",
                "minimum": 1,
                "default": 3,
                "description": None,
                "required": False,
                "schema": {"type": "integer", "minimum": 5},
            }
        }
        detail = LabcasClient(API, TOKEN, http=fake.client()).workflow("nebraska_demo")
        assert ParameterSpec("n", detail.parameters["n"]).problems(2) == [
            "n must be at least 5, not 2"
        ]

    def test_an_answer_of_another_shape_is_a_client_error(self):
        body = {"workflows": [{"id": "w"}]}
        http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body)))
        with pytest.raises(ClientError) as caught:
            LabcasClient(API, TOKEN, http=http).workflows()
        assert str(caught.value) == (
            "unexpected answer to GET /workflows: workflows.0.description: Field required"
        )


class TestErrors:
    def test_problem_json_becomes_one_readable_line(self, client: LabcasClient):
        with pytest.raises(ClientError) as caught:
            client.workflows("nope")
        assert caught.value.status == 404
        assert str(caught.value) == "404 Error: no data selection nope"

    def test_refused_token_is_a_401(self, fake: FakeApi):
        with pytest.raises(ClientError) as caught:
            LabcasClient(API, "bad", http=fake.client()).data_selections()
        assert caught.value.status == 401
        assert "bad" not in str(caught.value)

    def test_non_json_error_keeps_the_status(self):
        http = httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(502, text="<html>bad</html>"))
        )
        with pytest.raises(ClientError, match=r"^502 Bad Gateway$"):
            LabcasClient(API, TOKEN, http=http).data_selections()

    def test_unreachable_api_is_a_client_error(self):
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused")

        http = httpx.Client(transport=httpx.MockTransport(refuse))
        with pytest.raises(ClientError, match="cannot reach the API"):
            LabcasClient(API, TOKEN, http=http).data_selections()

    def test_repr_hides_the_token(self, client: LabcasClient):
        assert TOKEN not in repr(client)


class TestRuns:
    def test_start_run_sends_params_and_idempotency_key(self, client: LabcasClient, fake: FakeApi):
        started = client.start_run(
            "nebraska_demo", "nebraska_images", {"tile_size": 32}, idempotency_key="k1"
        )
        assert started.run_id == "run1" and started.status == "queued"
        sent = fake.requests[-1]
        assert json.loads(sent.content) == {
            "in_data_selection": "nebraska_images",
            "params": {"tile_size": 32},
        }
        assert sent.headers["idempotency-key"] == "k1"

    def test_invalid_parameters_are_a_422(self, client: LabcasClient):
        with pytest.raises(ClientError) as caught:
            client.start_run("nebraska_demo", "nebraska_images", {"tile_size": 2})
        assert caught.value.status == 422 and "tile_size" in caught.value.detail

    def test_dry_run_returns_the_conf(self, client: LabcasClient, fake: FakeApi):
        answer = client.check_run("nebraska_demo", "nebraska_images", {"tile_size": 16})
        assert answer.dry_run and answer.conf["tile_size"] == 16
        assert fake.runs == []

    def test_runs_follow_next_links(self, client: LabcasClient, fake: FakeApi):
        fake.runs = [_run(f"r{i}") for i in range(5)]
        fake.page_size = 2
        assert [r.run_id for r in client.runs("nebraska_demo")] == [f"r{i}" for i in range(5)]
        assert len(fake.requests) == 3

    def test_the_status_filter_is_the_servers(self, client: LabcasClient, fake: FakeApi):
        fake.runs = [_run("a", "failed"), _run("b", "success")]
        runs = client.runs("nebraska_demo", status="success")
        assert [r.run_id for r in runs] == ["b"]
        assert fake.requests[0].url.params["status"] == "success"

    def test_run_detail_has_tasks_and_progress(self, client: LabcasClient, fake: FakeApi):
        fake.runs = [_run("r1", "success")]
        run = client.run("nebraska_demo", "r1")
        assert [t.task_id for t in run.tasks] == ["fetch", "segment"]
        assert progress_text(run) == "1/2 tasks"
        assert run_duration(run) == 90.0

    def test_an_unknown_run_is_a_404_without_listing_the_runs(
        self, client: LabcasClient, fake: FakeApi
    ):
        fake.runs = [_run("r1")]
        with pytest.raises(ClientError) as caught:
            client.run("nebraska_demo", "nope")
        assert caught.value.status == 404
        assert [r.url.path for r in fake.requests] == ["/workflows/nebraska_demo/runs/nope"]

    def test_wait_polls_until_the_run_finishes(self, client: LabcasClient, fake: FakeApi):
        fake.runs = [_run("r1", "queued")]
        fake.statuses = ["queued", "running", "success"]
        seen: list[str] = []
        final = client.wait(
            "nebraska_demo", "r1", on_update=lambda r: seen.append(r.status), sleep=lambda s: None
        )
        assert final.status == "success" and seen == ["queued", "running", "success"]

    def test_wait_gives_up_after_the_timeout(self, client: LabcasClient, fake: FakeApi):
        fake.runs = [_run("r1", "running")]
        with pytest.raises(ClientError, match="still running"):
            client.wait("nebraska_demo", "r1", timeout=0, sleep=lambda s: None)

    def test_task_log_is_text(self, client: LabcasClient, fake: FakeApi):
        fake.runs = [_run("r1")]
        assert client.task_log("nebraska_demo", "r1", "segment", try_number=1) == "line 1\nline 2\n"
        assert fake.requests[-1].url.params["try"] == "1"

    def test_log_of_an_unknown_task_is_a_404(self, client: LabcasClient, fake: FakeApi):
        fake.runs = [_run("r1")]
        with pytest.raises(ClientError, match="no task nope"):
            client.task_log("nebraska_demo", "r1", "nope")

    def test_cancel_a_running_run(self, client: LabcasClient, fake: FakeApi):
        fake.runs = [_run("r1", "running")]
        assert client.cancel_run("nebraska_demo", "r1").status == "cancelled"

    def test_cancel_a_finished_run_is_a_conflict(self, client: LabcasClient, fake: FakeApi):
        fake.runs = [_run("r1", "success")]
        with pytest.raises(ClientError) as caught:
            client.cancel_run("nebraska_demo", "r1")
        assert caught.value.status == 409

    def test_run_ids_are_quoted_as_one_path_segment(self, client: LabcasClient, fake: FakeApi):
        fake.runs = [_run("manual__2024-05-01T12:00:00+00:00/x")]
        client.run("nebraska_demo", "manual__2024-05-01T12:00:00+00:00/x")
        assert b"%2Fx" in fake.requests[0].url.raw_path


class TestOutputs:
    @pytest.fixture(autouse=True)
    def _files(self, fake: FakeApi) -> None:
        fake.files = {
            "run1/a.csv": b"x,y\n1,2\n",
            "run1/a_bw.png": b"\x89PNG" + b"0" * 100,
            "run1/sub/b.txt": b"hello",
            "top.txt": b"t",
        }
        fake.properties = {"run1/a.csv": {"owner": "thomas"}}

    def test_root_listing(self, client: LabcasClient, fake: FakeApi):
        listing = client.outputs()
        assert list(listing.folders) == ["run1/"]
        assert list(listing.files) == ["top.txt"]
        assert fake.requests[0].url.path == "/output-data/"

    def test_pages_are_merged(self, client: LabcasClient, fake: FakeApi):
        fake.page_size = 1
        listing = client.outputs("run1")
        assert list(listing.files) == ["a.csv", "a_bw.png"]
        assert listing.files["a.csv"].properties == {"owner": "thomas"}
        assert list(listing.folders) == ["sub/"] and listing.next is None
        # every page listed afresh, past a listing another server instance may hold
        assert {r.headers["cache-control"] for r in fake.requests} == {"no-cache"}

    @pytest.mark.parametrize("path", ["../etc", "run1/../../x", "./a"])
    def test_traversal_is_refused_before_sending(self, client: LabcasClient, path: str):
        with pytest.raises(ClientError, match="invalid output path"):
            client.outputs(path)

    def test_walk_is_recursive(self, client: LabcasClient):
        assert sorted(rel for rel, _ in client.walk("run1")) == ["a.csv", "a_bw.png", "sub/b.txt"]

    def test_annotate_merges_and_puts_the_full_set(self, client: LabcasClient, fake: FakeApi):
        etag = fake.etag("run1/a.csv")
        merged = client.annotate("run1", "a.csv", {"quality": "good"})
        assert merged == {"owner": "thomas", "quality": "good"}
        put = fake.requests[-1]
        assert put.method == "PUT" and put.url.path == "/output-data/run1"
        assert json.loads(put.content) == {"files": {"a.csv": {"properties": merged, "etag": etag}}}
        assert client.annotate("run1", "a.csv", {}, remove=["owner"]) == {"quality": "good"}

    def test_annotate_merges_again_when_someone_else_wrote_meanwhile(
        self, client: LabcasClient, fake: FakeApi, monkeypatch: pytest.MonkeyPatch
    ):
        """No lost update: the write names the version it merged with; on 412 the merge is
        done again over the other writer's properties."""
        real = client.set_properties
        raced = []

        def racing(*args: Any, **kwargs: Any) -> list[str]:
            if not raced:
                raced.append(True)
                fake.properties["run1/a.csv"] = {"owner": "thomas", "reviewer": "dliu"}
            return real(*args, **kwargs)

        monkeypatch.setattr(client, "set_properties", racing)
        merged = client.annotate("run1", "a.csv", {"quality": "good"})
        assert merged == {"owner": "thomas", "reviewer": "dliu", "quality": "good"}
        assert fake.properties["run1/a.csv"] == merged

    def test_set_properties_without_etags_is_unconditional(
        self, client: LabcasClient, fake: FakeApi
    ):
        client.set_properties("run1", {"a.csv": {"k": "v"}})
        assert json.loads(fake.requests[-1].content) == {
            "files": {"a.csv": {"properties": {"k": "v"}}}
        }
        client.set_properties("run1", {"a_bw.png": {"k": "v"}}, etags={"a_bw.png": None})
        assert json.loads(fake.requests[-1].content) == {
            "files": {"a_bw.png": {"properties": {"k": "v"}, "etag": None}}
        }

    def test_annotate_an_unknown_file_is_a_404(self, client: LabcasClient):
        with pytest.raises(ClientError) as caught:
            client.annotate("run1", "nope.csv", {"a": "b"})
        assert caught.value.status == 404


class TestDownload:
    @pytest.fixture(autouse=True)
    def _files(self, fake: FakeApi) -> None:
        fake.files = {"run1/a.csv": b"x,y\n1,2\n" * 100, "run1/sub/b.txt": b"hello"}

    def test_folder_download_is_recursive_and_unauthenticated_at_s3(
        self, client: LabcasClient, fake: FakeApi, tmp_path: Path
    ):
        seen: list[int] = []
        results = client.download("run1", tmp_path, on_progress=seen.append)
        assert {r.outcome for r in results} == {"downloaded"}
        assert (tmp_path / "a.csv").read_bytes() == fake.files["run1/a.csv"]
        assert (tmp_path / "sub" / "b.txt").read_bytes() == b"hello"
        assert sum(seen) == 805

    def test_complete_files_are_skipped(self, client: LabcasClient, tmp_path: Path):
        client.download("run1", tmp_path)
        results = client.download("run1", tmp_path)
        assert [r.outcome for r in results] == ["skipped", "skipped"]

    def test_partial_files_are_resumed_with_range(
        self, client: LabcasClient, fake: FakeApi, tmp_path: Path
    ):
        data = fake.files["run1/a.csv"]
        (tmp_path / "a.csv").write_bytes(data[:300])
        results = client.download("run1/a.csv", tmp_path)
        assert results[0].outcome == "resumed" and results[0].bytes_transferred == len(data) - 300
        assert (tmp_path / "a.csv").read_bytes() == data
        assert fake.requests[-1].headers["range"] == "bytes=300-"

    def test_without_range_support_the_file_is_fetched_again(
        self, client: LabcasClient, fake: FakeApi, tmp_path: Path
    ):
        fake.honour_range = False
        data = fake.files["run1/a.csv"]
        (tmp_path / "a.csv").write_bytes(b"garbage")
        result = client.download("run1/a.csv", tmp_path / "a.csv")[0]
        assert result.outcome == "downloaded"
        assert (tmp_path / "a.csv").read_bytes() == data

    def test_a_size_mismatch_is_an_error(self, fake: FakeApi, tmp_path: Path):
        def short(request: httpx.Request) -> httpx.Response:
            if request.url.host == "s3.test":
                return httpx.Response(200, content=b"abc")
            return fake.handle(request)

        client = LabcasClient(API, TOKEN, http=httpx.Client(transport=httpx.MockTransport(short)))
        with pytest.raises(ClientError, match="got 3 bytes, expected 5"):
            client.download("run1/sub/b.txt", tmp_path)

    def test_missing_path_is_a_404(self, client: LabcasClient, tmp_path: Path):
        with pytest.raises(ClientError) as caught:
            client.download("run1/nope.txt", tmp_path)
        assert caught.value.status == 404
