"""One contract for every engine kind, against real Airflow servers.

Each kind is the engine LabCAS builds for a ``LABCAS_ENGINE``: ``airflow3`` (Airflow 3.3,
``/api/v2``), ``airflow2`` (Airflow 2.10, ``/api/v1``), ``mwaa`` on either (boto3 calls answered
from the local Airflow by ``LocalMwaa``), ``mwaa-web-login`` on either (web login through the
``WebLoginProxy`` in front of it). Both Airflows are session fixtures; the demo runs once per
Airflow for two users, and each kind starts three ``labcas_sleep`` runs of its own (one that
finishes in a second, one to cancel, and one to cancel whose id is that of a run started with
an ``Idempotency-Key``).

``InvokeRestApi`` takes paths of at most 64 characters (the service model's ``RestApiPath``;
the stand-in refuses longer ones). Through ``mwaa``, reads with longer paths use listings
(get run, tasks), and task logs and cancel go through the web server with a web-login session
(the ``WebLoginProxy``): every operation works on every kind.
"""

from __future__ import annotations

import hashlib
import io
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from labcas_workflow_api.devstack.airflow import AirflowServer
from labcas_workflow_api.devstack.images import make_images
from labcas_workflow_api.domain.errors import (
    ConfigError,
    Conflict,
    InvalidParameters,
    NotFound,
    UpstreamUnavailable,
)
from labcas_workflow_api.domain.models import Run, RunStatus
from labcas_workflow_api.engines.airflow import AirflowEngine
from labcas_workflow_api.engines.mwaa import mwaa_engine, mwaa_web_login_engine
from labcas_workflow_api.service import provenance_crate
from labcas_workflow_api.service.provenance import DataSelection, Outputs, RunFacts, RunRecord
from tests.integration.storage_fixtures import DATA_BUCKET, STAGING_BUCKET
from tests.integration.test_airflow_engine import conf_for, run_id_for
from tests.support import rocrate_validation as validator
from tests.support.mwaa import LocalMwaa, WebLoginProxy
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

DEMO = "nebraska_demo"
SLEEP = "labcas_sleep"
IMAGES = make_images(n=3, size=160, seed=11)
WAIT = 240.0


def wait_finished(engine: AirflowEngine, workflow_id: str, run_id: str) -> Run:
    """The run once finished; a slow answer from the engine on the way is "not yet"."""

    def finished() -> Run | None:
        run = engine.get_run(workflow_id, run_id)
        return run if run.status.finished else None

    return wait_until(finished, WAIT, what=f"run {run_id} to finish")


@dataclass
class Subject:
    """One engine kind under test, with what it runs on."""

    kind: str
    engine: AirflowEngine
    airflow: AirflowServer
    demo: dict[str, Run]
    in_prefix: str
    mwaa: LocalMwaa | None = None
    proxy: WebLoginProxy | None = None
    runs: dict[str, Run] = field(default_factory=dict)

    @property
    def short_paths_only(self) -> bool:
        """Whether the engine goes through ``InvokeRestApi`` and its 64-character paths."""
        return self.kind.startswith("mwaa-v")

    def web_logins(self) -> int:
        """Sessions the web-login proxy handed out so far (0 without one)."""
        return self.proxy.logins if self.proxy is not None else 0

    def check_short_paths(self) -> None:
        """Through ``InvokeRestApi`` every path had 64 characters at most."""
        if self.short_paths_only:
            assert self.mwaa is not None
            assert all(len(call.split(" ", 1)[1]) <= 64 for call in self.mwaa.paths)


@dataclass
class Airflows:
    """The demo pair (thomas, dliu) of each Airflow, started once, on first use."""

    in_prefix: str
    demos: dict[str, dict[str, Run]] = field(default_factory=dict)

    def demo(self, airflow: AirflowServer) -> dict[str, Run]:
        if airflow.url not in self.demos:
            api = "v2" if airflow.major >= 3 else "v1"
            with AirflowEngine(
                airflow.url, airflow.username, airflow.password, api_version=api
            ) as direct:
                started = time.monotonic()
                ids = {
                    user: direct.trigger_run(
                        DEMO, run_id_for(user), conf_for(user, self.in_prefix)
                    ).run_id
                    for user in ("thomas", "dliu")
                }
                self.demos[airflow.url] = {
                    user: wait_finished(direct, DEMO, run_id) for user, run_id in ids.items()
                }
                print(
                    f"Airflow {airflow.version}: two demo runs finished in "
                    f"{time.monotonic() - started:.1f}s"
                )
        return self.demos[airflow.url]


@pytest.fixture(scope="module")
def airflows(s3_server: Any) -> Airflows:
    prefix = f"engine-contract/{uuid.uuid4().hex[:8]}/"
    client = s3_server.client()
    for name, data in IMAGES.items():
        client.put_object(Bucket=DATA_BUCKET, Key=prefix + name, Body=data)
    return Airflows(prefix)


def _direct(airflow: AirflowServer) -> tuple[AirflowEngine, None, None]:
    api = "v2" if airflow.major >= 3 else "v1"
    engine = AirflowEngine(airflow.url, airflow.username, airflow.password, api_version=api)
    return engine, None, None


def _mwaa(airflow: AirflowServer) -> tuple[AirflowEngine, LocalMwaa, WebLoginProxy]:
    proxy = WebLoginProxy(airflow).start()  # for the paths too long for InvokeRestApi
    shim = LocalMwaa(airflow, f"labcas-{uuid.uuid4().hex[:6]}", web_login=proxy)
    return mwaa_engine(shim.name, client=shim.client(), scheme="http"), shim, proxy


def _web_login(airflow: AirflowServer) -> tuple[AirflowEngine, LocalMwaa, WebLoginProxy]:
    proxy = WebLoginProxy(airflow).start()
    shim = LocalMwaa(airflow, f"labcas-{uuid.uuid4().hex[:6]}", web_login=proxy)
    engine = mwaa_web_login_engine(shim.name, client=shim.client(), scheme="http")
    return engine, shim, proxy


Builder = Callable[[AirflowServer], tuple[AirflowEngine, LocalMwaa | None, WebLoginProxy | None]]
KEY = "k0123456789abcdef01234567"  # how a run started with an Idempotency-Key is named
KINDS: dict[str, tuple[str, Builder]] = {
    "airflow3": ("airflow3", _direct),
    "airflow2": ("airflow2", _direct),
    "mwaa-v2": ("airflow3", _mwaa),
    "mwaa-v1": ("airflow2", _mwaa),
    "mwaa-web-login-v1": ("airflow2", _web_login),
    "mwaa-web-login-v2": ("airflow3", _web_login),
}


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(kind, marks=pytest.mark.uses(server)) for kind, (server, _) in KINDS.items()
    ],
)
def subject(request: pytest.FixtureRequest, airflows: Airflows) -> Iterator[Subject]:
    server_fixture, build = KINDS[request.param]
    airflow: AirflowServer = request.getfixturevalue(server_fixture)
    engine, shim, proxy = build(airflow)
    try:
        demo = airflows.demo(airflow)
        yield Subject(request.param, engine, airflow, demo, airflows.in_prefix, shim, proxy)
    finally:
        engine.close()
        if shim is not None:
            shim.close()
        if proxy is not None:
            proxy.stop()


@pytest.fixture(scope="module")
def own_runs(subject: Subject) -> Iterator[dict[str, Run]]:
    """Three runs started through the engine under test: ``quick`` (finished), and ``long``
    and ``keyed`` (cancelled by the tests; directly afterwards if a test failed). ``keyed`` has
    the id of a run started with an ``Idempotency-Key`` (``labcas__<user>__k<24 hex>``), whose
    run path is over 64 characters on every DAG."""
    engine = subject.engine
    conf = {"username": "thomas", "seconds": 300}
    long = engine.trigger_run(SLEEP, run_id_for("thomas"), conf)
    keyed_id = f"labcas__thomas__{KEY[:-6]}{uuid.uuid4().hex[:6]}"
    keyed = engine.trigger_run(SLEEP, keyed_id, conf)
    quick = engine.trigger_run(SLEEP, run_id_for("thomas"), {"username": "thomas", "seconds": 1})
    subject.runs = {"long": long, "keyed": keyed, "quick_triggered": quick}
    subject.runs["quick"] = wait_finished(engine, SLEEP, quick.run_id)
    yield subject.runs
    with _direct(subject.airflow)[0] as direct:
        for run in (long, keyed):
            if not direct.get_run(SLEEP, run.run_id).status.finished:
                direct.cancel_run(SLEEP, run.run_id, by="test teardown")


class TestWorkflows:
    def test_lists_the_deployed_workflows(self, subject: Subject) -> None:
        workflows = {w.id: w for w in subject.engine.list_workflows()}
        assert {DEMO, SLEEP} <= workflows.keys()
        assert workflows[DEMO].paused is False
        assert "Nuclei" in (workflows[DEMO].description or "")

    def test_get_returns_typed_params_with_defaults(self, subject: Subject) -> None:
        workflow = subject.engine.get_workflow(DEMO)
        params = workflow.parameters
        assert set(params) == {"tile_size", "threshold_method", "min_area"}
        assert params["tile_size"].default == 64
        assert params["tile_size"].schema == {"type": "integer", "minimum": 8}
        assert params["tile_size"].description
        assert params["threshold_method"].schema["enum"] == ["otsu", "li", "yen"]
        assert workflow.schedule in (None, "None")

    def test_unknown_workflow_is_not_found(self, subject: Subject) -> None:
        with pytest.raises(NotFound):
            subject.engine.get_workflow("no_such_dag")

    def test_ping(self, subject: Subject) -> None:
        subject.engine.ping()


class TestTrigger:
    def test_trigger_answers_the_new_run_with_its_conf(
        self, subject: Subject, own_runs: dict[str, Run]
    ) -> None:
        created = own_runs["quick_triggered"]
        assert created.workflow_id == SLEEP
        assert created.run_id.startswith("labcas__thomas__")
        assert created.status in (RunStatus.QUEUED, RunStatus.RUNNING)
        assert created.conf == {"username": "thomas", "seconds": 1}

    def test_reused_run_id_is_a_conflict(self, subject: Subject, own_runs: dict[str, Run]) -> None:
        with pytest.raises(Conflict):
            subject.engine.trigger_run(SLEEP, own_runs["quick"].run_id, {"username": "thomas"})

    def test_params_failing_the_schema_are_refused_by_airflow(self, subject: Subject) -> None:
        conf = conf_for("thomas", subject.in_prefix, tile_size=2)
        with pytest.raises(InvalidParameters, match="tile_size"):
            subject.engine.trigger_run(DEMO, run_id_for("thomas"), conf)

    def test_trigger_of_unknown_workflow_is_not_found(self, subject: Subject) -> None:
        with pytest.raises(NotFound):
            subject.engine.trigger_run("no_such_dag", run_id_for("thomas"), {})


class TestRuns:
    def test_the_demo_succeeded(self, subject: Subject) -> None:
        run = subject.engine.get_run(DEMO, subject.demo["thomas"].run_id)
        assert run.status is RunStatus.SUCCESS, run
        assert run.start_time is not None and run.end_time is not None
        assert run.conf["username"] == "thomas"

    def test_the_quick_run_reached_success(
        self, subject: Subject, own_runs: dict[str, Run]
    ) -> None:
        assert own_runs["quick"].status is RunStatus.SUCCESS

    def test_one_workflows_listing_shows_all_and_only_the_users_runs(
        self, subject: Subject, own_runs: dict[str, Run]
    ) -> None:
        engine = subject.engine
        mine = engine.list_user_runs([DEMO], username="thomas", run_id_prefix="labcas__thomas__")
        ids = {r.run_id for r in mine}
        assert subject.demo["thomas"].run_id in ids
        assert subject.demo["dliu"].run_id not in ids
        assert all(r.conf.get("username") == "thomas" for r in mine)
        theirs = engine.list_user_runs([DEMO], username="dliu", run_id_prefix="labcas__dliu__")
        assert subject.demo["dliu"].run_id in {r.run_id for r in theirs}
        assert subject.demo["thomas"].run_id not in {r.run_id for r in theirs}
        sleeps = engine.list_user_runs([SLEEP], username="thomas", run_id_prefix="labcas__thomas__")
        assert {own_runs["quick"].run_id, own_runs["long"].run_id} <= {r.run_id for r in sleeps}

    def test_status_filter(self, subject: Subject, own_runs: dict[str, Run]) -> None:
        done = subject.engine.list_user_runs(
            [SLEEP], username="thomas", run_id_prefix="labcas__thomas__", status=RunStatus.SUCCESS
        )
        ids = {r.run_id for r in done}
        assert own_runs["quick"].run_id in ids
        assert own_runs["long"].run_id not in ids
        assert all(r.status is RunStatus.SUCCESS for r in done)

    def test_one_listing_across_workflows_shows_all_and_only_the_users_runs(
        self, subject: Subject, own_runs: dict[str, Run]
    ) -> None:
        engine = subject.engine
        mine = engine.list_user_runs(
            [DEMO, SLEEP, "no_such_dag"], username="thomas", run_id_prefix="labcas__thomas__"
        )
        ids = {(r.workflow_id, r.run_id) for r in mine}
        assert (DEMO, subject.demo["thomas"].run_id) in ids
        assert (DEMO, subject.demo["dliu"].run_id) not in {(r.workflow_id, r.run_id) for r in mine}
        assert {(SLEEP, own_runs["quick"].run_id), (SLEEP, own_runs["long"].run_id)} <= ids
        assert all(r.conf.get("username") == "thomas" for r in mine)
        only_demo = engine.list_user_runs(
            [DEMO], username="thomas", run_id_prefix="labcas__thomas__"
        )
        assert {r.workflow_id for r in only_demo} == {DEMO}
        subject.check_short_paths()

    def test_unknown_run_is_not_found(self, subject: Subject) -> None:
        with pytest.raises(NotFound):
            subject.engine.get_run(DEMO, run_id_for("thomas"))

    def test_an_unknown_workflow_has_no_runs(self, subject: Subject) -> None:
        runs = subject.engine.list_user_runs(
            ["no_such_dag"], username="thomas", run_id_prefix="labcas__thomas__"
        )
        assert runs == []


class TestTasks:
    def test_the_demos_tasks_in_dag_order(self, subject: Subject) -> None:
        tasks = subject.engine.list_tasks(DEMO, subject.demo["thomas"].run_id)
        order = [(t.task_id, t.map_index) for t in tasks]
        assert order == [
            ("list_inputs", -1),
            ("segment", 0),
            ("segment", 1),
            ("segment", 2),
            ("summarize", -1),
        ]
        # Airflow 2.10 may number a task's first try 2 (its scheduler counts one it never ran).
        assert all(t.state == "success" and t.try_number >= 1 for t in tasks), tasks
        assert all(t.start_time and t.end_time and t.duration is not None for t in tasks), tasks

    def test_tasks_of_unknown_run_are_not_found(self, subject: Subject) -> None:
        with pytest.raises(NotFound):
            subject.engine.list_tasks(DEMO, run_id_for("thomas"))

    def test_task_log(self, subject: Subject, own_runs: dict[str, Run]) -> None:
        run_id = own_runs["quick"].run_id
        (wait,) = [t for t in subject.engine.list_tasks(SLEEP, run_id) if t.task_id == "wait"]

        def read() -> str:
            chunks = subject.engine.task_log(SLEEP, run_id, "wait", wait.try_number)
            return b"".join(chunks).decode()

        assert "waited 1 seconds" in read()
        if subject.short_paths_only:  # its path has over 64 characters: through the web server
            assert subject.web_logins() >= 1
        subject.check_short_paths()

    def test_log_of_a_try_that_never_ran_is_not_found(
        self, subject: Subject, own_runs: dict[str, Run]
    ) -> None:
        with pytest.raises(NotFound):
            b"".join(subject.engine.task_log(SLEEP, own_runs["quick"].run_id, "nope", 1))


class TestCancel:
    @pytest.mark.parametrize("which", ["long", "keyed"])
    def test_cancel_stops_the_run_and_is_idempotent(
        self, subject: Subject, own_runs: dict[str, Run], which: str
    ) -> None:
        engine, run_id = subject.engine, own_runs[which].run_id
        cancelled = engine.cancel_run(SLEEP, run_id, by="thomas")
        assert cancelled.status is RunStatus.CANCELLED
        again = engine.cancel_run(SLEEP, run_id, by="thomas")
        assert again.status is RunStatus.CANCELLED
        assert engine.get_run(SLEEP, run_id).status is RunStatus.CANCELLED
        with _direct(subject.airflow)[0] as direct:
            assert direct.get_run(SLEEP, run_id).status is RunStatus.CANCELLED
        if subject.short_paths_only and which == "keyed":
            assert subject.web_logins() >= 1  # its run path has over 64 characters
        subject.check_short_paths()

    def test_cancel_of_a_finished_run_is_a_conflict(
        self, subject: Subject, own_runs: dict[str, Run]
    ) -> None:
        with pytest.raises(Conflict):
            subject.engine.cancel_run(SLEEP, own_runs["quick"].run_id, by="thomas")

    def test_a_cancelled_run_is_listed_cancelled_and_not_failed(
        self, subject: Subject, own_runs: dict[str, Run]
    ) -> None:
        engine, run_id = subject.engine, own_runs["long"].run_id
        engine.cancel_run(SLEEP, run_id, by="thomas")

        def listed(status: RunStatus | None) -> dict[str, RunStatus]:
            runs = engine.list_user_runs(
                [SLEEP], username="thomas", run_id_prefix="labcas__thomas__", status=status
            )
            return {r.run_id: r.status for r in runs}

        assert listed(None)[run_id] is RunStatus.CANCELLED
        assert run_id in listed(RunStatus.CANCELLED)
        assert run_id not in listed(RunStatus.FAILED)
        assert own_runs["quick"].run_id not in listed(RunStatus.CANCELLED)
        subject.check_short_paths()


class TestVersions:
    """``engine_version`` and ``workflow_version``: what a run's provenance names."""

    def test_engine_version(self, subject: Subject) -> None:
        version = subject.engine.engine_version()
        assert version.name == "Apache Airflow"
        assert version.version == subject.airflow.version
        subject.check_short_paths()

    def test_workflow_version_of_the_demo_run(self, subject: Subject) -> None:
        version = subject.engine.workflow_version(DEMO, subject.demo["thomas"].run_id)
        assert version.workflow_id == DEMO and version.file_name == "nebraska_demo.py"
        assert version.source is not None and "def nebraska_demo" in version.source
        assert version.source == (subject.airflow.dags_folder / "nebraska_demo.py").read_text()
        assert version.source_sha256 == hashlib.sha256(version.source.encode()).hexdigest()
        if subject.airflow.major >= 3:  # the version the run used
            assert version.of_run and version.version is not None and version.version.isdigit()
            assert version.bundle_name == "dags-folder"
        else:  # the DAG file now, by its token
            assert not version.of_run and version.version is None and version.source_token
        subject.check_short_paths()

    def test_workflow_version_of_an_unknown_run_is_not_found(self, subject: Subject) -> None:
        with pytest.raises(NotFound):
            subject.engine.workflow_version(DEMO, run_id_for("thomas"))

    def test_the_crate_built_from_these_facts_is_valid(
        self, subject: Subject, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """The Workflow Run Crate of the demo run from this engine's facts (outputs aside)."""
        run = subject.engine.get_run(DEMO, subject.demo["thomas"].run_id)
        facts = RunFacts(
            "thomas",
            run,
            subject.engine.get_workflow(DEMO),
            subject.engine.workflow_version(DEMO, run.run_id),
            subject.engine.engine_version(),
            DataSelection("nebraska_images", DATA_BUCKET, subject.in_prefix),
        )
        record = RunRecord(facts, Outputs(STAGING_BUCKET, None, "", []), datetime.now(UTC))
        archive = zipfile.ZipFile(io.BytesIO(provenance_crate.zipped(record, "http://x")))
        files = {
            name: archive.read(name) for name in ("ro-crate-metadata.json", "nebraska_demo.py")
        }
        documents = {validator.RO_CRATE_11: validator.ro_crate_11_context()}
        cache = validator.offline_cache(tmp_path_factory.mktemp("jsonld") / "http", documents)
        verdict = validator.validate_files(files, cache)
        print(f"\n{subject.kind}: {verdict}")
        assert verdict.ok, str(verdict)


class TestTransport:
    """What each MWAA transport adds: AWS errors mapped, sessions renewed."""

    def test_throttling_is_retried_then_unavailable(self, subject: Subject) -> None:
        if not subject.short_paths_only:
            pytest.skip("InvokeRestApi only")
        shim = subject.mwaa
        assert shim is not None
        shim.fail_next("ThrottlingException", 429, times=20)
        try:
            with pytest.raises(UpstreamUnavailable, match=r"(?i)throttl"):
                subject.engine.list_workflows()
        finally:
            shim.clear_failures()
        shim.fail_next("ThrottlingException", 429, times=1)
        assert subject.engine.list_workflows()

    def test_unknown_environment_is_a_config_error(self, subject: Subject) -> None:
        if not subject.kind.startswith("mwaa"):
            pytest.skip("MWAA only")
        shim = subject.mwaa
        assert shim is not None
        build = mwaa_engine if subject.short_paths_only else mwaa_web_login_engine
        with build("no-such-env", client=shim.client()) as engine, pytest.raises(ConfigError):
            engine.list_workflows()

    def test_expired_session_logs_in_again_once(self, subject: Subject) -> None:
        if not subject.kind.startswith("mwaa-web-login"):
            pytest.skip("web login only")
        subject.engine.list_workflows()
        proxy = subject.proxy
        assert proxy is not None
        logins = proxy.logins
        assert proxy.expire_sessions() >= 1
        assert {w.id for w in subject.engine.list_workflows()} >= {DEMO}
        assert proxy.logins == logins + 1
