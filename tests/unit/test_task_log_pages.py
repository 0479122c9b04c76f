"""Task logs in pages: ``?offset=`` and ``?max_bytes=`` (and ``LABCAS_LOG_MAX_BYTES``), a last line
and a ``Link: rel="next"`` to the rest; on Lambda, answers that fit Lambda's 6 MB."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from labcas_workflow_api import deadline
from labcas_workflow_api.aws import api as api_module
from labcas_workflow_api.aws.api import LAMBDA_LOG_MAX_BYTES, ApiRuntime, build_runtime
from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.domain.errors import DeadlineExceeded
from labcas_workflow_api.domain.models import TaskInstance
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.service.log_pages import LogPage, page_limit
from labcas_workflow_api.settings import Settings
from tests.unit.fakes import SECRET, FakeEngine, FakeStore, write_config
from tests.unit.test_aws_events import header_of, load_event
from tests.unit.test_deadline import Clock, clock

__all__ = ["clock"]  # the fixture
from tests.unit.test_http_run_control import DEMO, add_run

Auth = Callable[[str], dict[str, str]]
#: Lambda's largest synchronous answer, in bytes of JSON.
LAMBDA_LIMIT = 6_291_556


def page(data: bytes, chunk: int = 7, **options: Any) -> LogPage:
    return LogPage(iter([data[i : i + chunk] for i in range(0, len(data), chunk)]), **options)


class TestLogPage:
    LOG = b"".join(f"line {n:03d}\n".encode() for n in range(100))  # 9 bytes a line

    def test_no_limit_is_the_whole_log(self) -> None:
        whole = page(self.LOG)
        assert whole.read() == self.LOG
        assert whole.next_offset is None

    def test_a_limit_ends_the_page_after_a_line(self) -> None:
        first = page(self.LOG, limit=100)
        assert first.read() == self.LOG[:99]
        assert first.next_offset == 99

    def test_pages_put_together_are_the_log(self) -> None:
        pages, offset = [], 0
        while offset is not None:
            one = page(self.LOG, offset=offset, limit=64)
            pages.append(one.read())
            assert len(pages[-1]) <= 64
            offset = one.next_offset
        assert b"".join(pages) == self.LOG
        assert len(pages) == len(self.LOG) // 63 + 1

    def test_a_long_line_is_cut_between_characters(self) -> None:
        text = ("é" * 100).encode()  # two bytes each
        first = page(text, limit=51)
        assert first.read() == text[:50]
        assert first.next_offset == 50
        rest = page(text, offset=50, limit=1000)
        assert rest.read() == text[50:]
        assert rest.next_offset is None

    def test_bytes_that_are_not_utf8_are_cut_at_the_limit(self) -> None:
        """A task may print anything: a page of stray continuation bytes still ends (and is
        no deadline's 504), and the pages put together are the log."""
        junk = b"\x80" * 200
        first = page(junk, limit=51)
        assert first.read() == junk[:51]
        assert first.next_offset == 51
        assert page(junk, offset=51, limit=1000).read() == junk[51:]

    def test_an_offset_past_the_end_is_an_empty_page(self) -> None:
        past = page(self.LOG, offset=10_000, limit=64)
        assert past.read() == b""
        assert past.next_offset is None

    def test_streamed_pages_stop_near_the_deadline(self, clock: Clock) -> None:
        def chunks() -> Iterator[bytes]:
            for n in range(10):
                clock.sleep(1)
                yield f"{n}\n".encode()

        with deadline.within(5.5):
            streamed = LogPage(chunks(), offset=2)
            given = b"".join(streamed)
        # the 4th chunk leaves less than ANSWER_RESERVE: the page ends before it
        assert given == b"1\n2\n3\n"
        assert streamed.next_offset == 8 and streamed.at_deadline
        assert b"at the request deadline" in streamed.note("L")

    def test_a_page_read_whole_ends_near_the_deadline_after_a_line(self, clock: Clock) -> None:
        def chunks() -> Iterator[bytes]:
            for n in range(10):
                clock.sleep(1)
                yield f"line {n}\nhalf".encode()

        with deadline.within(4.5):
            cut = LogPage(chunks())
            text = cut.read()
        assert text.endswith(b"half" + b"line 3\n")  # four chunks read, cut after a line
        assert cut.next_offset == len(text)

    def test_nothing_read_by_the_deadline_is_a_504(self, clock: Clock) -> None:
        def chunks() -> Iterator[bytes]:
            clock.sleep(10)
            yield b"late"

        with deadline.within(4), pytest.raises(DeadlineExceeded):
            LogPage(chunks(), offset=100).read()

    @pytest.mark.parametrize(
        ("asked", "most", "limit"),
        [
            (None, 0, None),
            (2048, 0, 2048),
            (None, 1000, 1000),
            (5000, 1000, 1000),
            (1024, 4096, 1024),
        ],
    )
    def test_page_limit(self, asked: int | None, most: int, limit: int | None) -> None:
        assert page_limit(asked, most) == limit


@pytest.fixture
def run_id(engine: FakeEngine) -> str:
    run_id = add_run(engine, "thomas", 1)
    engine.tasks[(DEMO, run_id)] = [TaskInstance("list_inputs", "success", try_number=2)]
    engine.logs[(DEMO, run_id, "list_inputs", 2, -1)] = LOG
    return run_id


LOG = b"".join(f"[2026-11-28T10:10:{n % 60:02d}Z] INFO - step {n}\n".encode() for n in range(2000))


def log_path(run_id: str) -> str:
    return f"/workflows/{DEMO}/runs/{run_id}/tasks/list_inputs/logs"


def follow(client: TestClient, url: str, headers: dict[str, str]) -> tuple[bytes, list[Any]]:
    """Every page from ``url`` on, by ``Link: rel="next"``: the log and the answers."""
    text, answers = b"", []
    while url:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        answers.append(answer)
        link = answer.headers.get("link")
        body = answer.content
        if link:
            following = link.split(">", 1)[0].lstrip("<")
            assert link == f'<{following}>; rel="next"'
            note = b"[LabCAS: the log was cut at byte "
            assert body.rsplit(b"\n", 2)[-2].startswith(note)
            assert following.encode() in body.rsplit(b"\n", 2)[-2]
            body = body[: body.rindex(b"[LabCAS:")]
            url = following
        else:
            url = ""
        text += body
    return text, answers


class TestTheLogRoute:
    def test_without_a_limit_the_whole_log_is_streamed(
        self, client: TestClient, auth: Auth, run_id: str
    ) -> None:
        answer = client.get(log_path(run_id), headers=auth("thomas"))
        assert answer.content == LOG
        assert "link" not in answer.headers

    def test_max_bytes_pages_with_a_next_link_that_pins_the_try(
        self, client: TestClient, auth: Auth, run_id: str
    ) -> None:
        text, answers = follow(client, log_path(run_id) + "?max_bytes=8192", auth("thomas"))
        assert text == LOG
        assert len(answers) == len(LOG) // 8192 + 1
        first = dict(parse_qsl(urlsplit(answers[0].headers["link"].strip('<>; rel="next"')).query))
        assert first["try"] == "2" and first["max_bytes"] == "8192"
        assert int(first["offset"]) <= 8192

    def test_the_setting_caps_every_answer(
        self, tmp_path: Path, engine: FakeEngine, auth: Auth, run_id: str
    ) -> None:
        settings = Settings(
            config=str(write_config(tmp_path)),
            jwt_secret=SECRET,
            log_max_bytes=20_000,
            _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(container=build_container(settings, engine=engine, store=FakeStore()))
        client = TestClient(app)
        text, answers = follow(client, log_path(run_id), auth("thomas"))
        assert text == LOG
        assert all(len(a.content) <= 20_000 + 300 for a in answers)
        asked_more = client.get(log_path(run_id) + "?max_bytes=100000", headers=auth("thomas"))
        assert len(asked_more.content) <= 20_000 + 300

    def test_an_offset_past_the_end_is_empty(
        self, client: TestClient, auth: Auth, run_id: str
    ) -> None:
        answer = client.get(log_path(run_id) + f"?offset={len(LOG)}", headers=auth("thomas"))
        assert answer.status_code == 200 and answer.content == b""

    @pytest.mark.parametrize(
        "query", ["?max_bytes=1023", "?max_bytes=x", "?max_bytes=99999999999", "?offset=-1"]
    )
    def test_bad_paging_parameters_are_a_400(
        self, client: TestClient, auth: Auth, run_id: str, query: str
    ) -> None:
        answer = client.get(log_path(run_id) + query, headers=auth("thomas"))
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/problem+json"


class TestOnLambda:
    """A captured task-log event through the Lambda handler, with a log larger than Lambda's
    6 MB answer: each page fits, and the next links give the rest."""

    @pytest.fixture
    def runtime(self, tmp_path: Path) -> Iterator[tuple[ApiRuntime, FakeEngine]]:
        settings = Settings(
            config=str(write_config(tmp_path)),
            jwt_secret=SECRET,
            log_max_bytes=LAMBDA_LOG_MAX_BYTES,
            _env_file=None,  # type: ignore[call-arg]
        )
        engine = FakeEngine()
        app = create_app(container=build_container(settings, engine=engine, store=FakeStore()))
        runtime = ApiRuntime(app)
        yield runtime, engine
        runtime.close()

    def event(self, run_id: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        event = load_event("api_get_task_log.json")
        old = event["pathParameters"]["run_id"]
        for holder, key in ((event, "path"), (event["requestContext"], "path")):
            holder[key] = holder[key].replace(old, run_id).replace("/segment/", "/list_inputs/")
        event["pathParameters"].update(run_id=run_id, task_id="list_inputs")
        event["requestContext"]["authorizer"] = {"principalId": "thomas", "username": "thomas"}
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()}
        return event

    @pytest.mark.parametrize(
        "line",
        [
            "[2026-11-28T10:10:13Z] {demo.py:142} INFO - tile 17 of 4096 segmented\n",
            "\x1b[32mINFO\x1b[0m \u00e9t\u00e9 \u2713 \U0001f9ea\n",  # colours and non-ASCII
            "\x01" * 99 + "\n",  # nothing but control characters: 6 bytes each in JSON
        ],
        ids=["plain", "colours-and-unicode", "control-characters"],
    )
    def test_a_log_over_6_mb_comes_in_pages_that_fit(
        self, runtime: tuple[ApiRuntime, FakeEngine], line: str
    ) -> None:
        lambda_runtime, engine = runtime
        run_id = add_run(engine, "thomas", 1)
        engine.tasks[(DEMO, run_id)] = [TaskInstance("list_inputs", "success", try_number=1)]
        log = (line * (7_000_000 // len(line.encode()) + 1)).encode()
        engine.logs[(DEMO, run_id, "list_inputs", 1, -1)] = log
        text, query, sizes = b"", None, []
        while True:
            result = lambda_runtime.handle(self.event(run_id, query), None)
            assert result["statusCode"] == 200, result
            wire = json.dumps(result)  # as the runtime sends it (ASCII-escaped: the worst)
            sizes.append(len(wire))
            assert len(wire) < LAMBDA_LIMIT
            body = result["body"].encode()
            link = header_of(result, "link")
            if link is None:
                text += body
                break
            text += body[: body.rindex(b"[LabCAS:")]
            query = dict(parse_qsl(urlsplit(link.split(">", 1)[0].lstrip("<")).query))
        print(
            f"\n{len(log):,} bytes of log in {len(sizes)} answers of at most {max(sizes):,} bytes"
        )
        assert text == log
        assert len(sizes) >= len(log) // LAMBDA_LOG_MAX_BYTES

    def test_the_handler_caps_logs_unless_the_setting_is_given(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = {"config": str(write_config(tmp_path)), "jwt_secret": SECRET}
        default = build_runtime(Settings(**settings, _env_file=None))  # type: ignore[call-arg]
        chosen = build_runtime(Settings(**settings, log_max_bytes=0, _env_file=None))  # type: ignore[call-arg]
        try:
            assert default.app.state.container.settings.log_max_bytes == LAMBDA_LOG_MAX_BYTES  # type: ignore[attr-defined]
            assert chosen.app.state.container.settings.log_max_bytes == 0  # type: ignore[attr-defined]
        finally:
            default.close()
            chosen.close()
        assert api_module.LAMBDA_LOG_MAX_BYTES * 6 + 10_000 < LAMBDA_LIMIT
