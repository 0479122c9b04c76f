"""Every (user, endpoint, collection, workflow) answer agrees with the rule, over real HTTP.

The rule is written out independently in ``matrix.py``; each test walks the whole product of
users, collections and workflows of a generated config and reports every disagreement at once.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.aws.authorizer import build_authorizer
from labcas_workflow_api.service.runs import RUN_LISTS_STALE_FOR
from labcas_workflow_api.settings import Settings
from tests.security.matrix import (
    COLLECTIONS,
    UNKNOWN_COLLECTION,
    USERS,
    WORKFLOWS,
    may_run,
    selections_of,
    start_status,
    workflows_of,
)
from tests.security.stack import DEPLOYED, PAUSED, SECRET, Api, problem
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

ALL_COLLECTIONS = (*COLLECTIONS, UNKNOWN_COLLECTION)


@pytest.fixture(scope="module")
def config(config_path: Path) -> dict:
    return yaml.safe_load(config_path.read_text())


@pytest.fixture(scope="module")
def http(api: Api) -> httpx.Client:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def seeded(api: Api) -> dict[tuple[str, str], str]:
    """A run of every deployed workflow for every user, mallory too, started on the engine
    itself (past the rule), each finished but the paused workflow's (queued for good):
    (user, workflow) -> run id."""
    engine = api.container.engine
    tag = uuid.uuid4().hex[:8]
    runs = {}
    for user in USERS:
        for workflow in DEPLOYED:
            run_id = f"labcas__{user}__matrix-{tag}-{workflow}"
            conf = {"username": user, "out_prefix": f"{user}/matrix-{tag}-{workflow}"}
            engine.trigger_run(workflow, run_id, conf)
            runs[user, workflow] = run_id

    def finished(workflow: str, run_id: str) -> bool:
        return engine.get_run(workflow, run_id).status.finished

    triggered = time.monotonic()
    for (_, workflow), run_id in runs.items():
        if workflow not in PAUSED:
            wait_until(lambda: finished(workflow, run_id), 180, what=f"{run_id} to finish")
    # Started past the API, these runs are not in a run list the API holds from before (an
    # earlier test's), which may be answered until LABCAS_RUN_LIST_TTL + 2 s old: wait that out.
    held = api.settings.run_list_ttl + RUN_LISTS_STALE_FOR
    time.sleep(max(0.0, triggered + held - time.monotonic()))
    return runs


@pytest.mark.parametrize("user", USERS)
class TestMatrix:
    def test_listings(self, user: str, config: dict, api: Api, http: httpx.Client) -> None:
        headers = api.headers(user)
        wrong: list[str] = []
        got = http.get("/data-selections", headers=headers).json()["data_selections"]
        if {e["id"] for e in got} != selections_of(config, user):
            wrong.append(f"/data-selections: {sorted(e['id'] for e in got)}")
        got = http.get("/workflows", headers=headers).json()["workflows"]
        if {e["id"] for e in got} != workflows_of(config, user):
            wrong.append(f"/workflows: {sorted(e['id'] for e in got)}")
        assert not wrong, f"{user}: {wrong}"

    def test_workflows_of_each_selection(
        self, user: str, config: dict, api: Api, http: httpx.Client
    ) -> None:
        headers = api.headers(user)
        wrong: list[str] = []
        for collection in ALL_COLLECTIONS:
            expected = {w for w in WORKFLOWS if may_run(config, user, collection, w)}
            for url, params in (
                ("/data-selections/workflows", {"data_id": collection}),
                (f"/data-selections/{collection}/workflows", None),
                (f"/dev/data-selections/{collection}/workflows", None),
            ):
                answer = http.get(url, params=params, headers=headers)
                if not expected:
                    if answer.status_code != 404:
                        wrong.append(f"{url} {params}: {answer.status_code}, expected 404")
                    else:
                        problem(answer)
                    continue
                got = {e["id"] for e in answer.json().get("workflows", [])}
                if answer.status_code != 200 or got != expected:
                    wrong.append(f"{url} {params}: {answer.status_code} {sorted(got)}")
        assert not wrong, f"{user}: {wrong}"

    def test_workflow_details_and_run_lists(
        self, user: str, config: dict, api: Api, http: httpx.Client
    ) -> None:
        headers = api.headers(user)
        wrong: list[str] = []
        for workflow in WORKFLOWS:
            expected = sorted(c for c in COLLECTIONS if may_run(config, user, c, workflow))
            detail = http.get(f"/workflows/{workflow}", headers=headers)
            runs = http.get(f"/workflows/{workflow}/runs", headers=headers)
            if not expected:
                for answer in (detail, runs):
                    if answer.status_code != 404:
                        wrong.append(f"{answer.url.path}: {answer.status_code}, expected 404")
                continue
            if detail.status_code != 200 or sorted(detail.json()["data_selections"]) != expected:
                wrong.append(f"/workflows/{workflow}: {detail.status_code} {detail.text[:200]}")
            if runs.status_code != 200:
                wrong.append(f"/workflows/{workflow}/runs: {runs.status_code}")
            elif any(r["conf"].get("username", user) != user for r in runs.json()["runs"]):
                wrong.append(f"/workflows/{workflow}/runs lists someone else's run")
        assert not wrong, f"{user}: {wrong}"

    def test_all_my_runs_are_mine_of_workflows_i_may_run(
        self,
        user: str,
        config: dict,
        api: Api,
        http: httpx.Client,
        seeded: dict[tuple[str, str], str],
    ) -> None:
        """GET /runs: the user's runs of every workflow they may run and nobody else's, the
        same one page at a time, and filtered by workflow, by status, or both."""
        headers = api.headers(user)
        mine = workflows_of(config, user)
        seeds = {(w, r) for (_, w), r in seeded.items()}
        wrong: list[str] = []

        def listed(**params: str) -> list[tuple[str, str, str]] | None:
            """The seeded runs listed, in order (runs other tests start may be changing)."""
            answer = http.get("/runs", params=params, headers=headers)
            if answer.status_code != 200:
                wrong.append(f"/runs {params}: {answer.status_code}")
                return None
            runs = answer.json()["runs"]
            for r in runs:
                if r["workflow_id"] not in mine or not r["run_id"].startswith(f"labcas__{user}__"):
                    wrong.append(f"/runs {params} lists {r['workflow_id']}/{r['run_id']}")
            found = [(r["workflow_id"], r["run_id"], r["status"]) for r in runs]
            return [e for e in found if e[:2] in seeds]

        everything = listed() or []
        expected = {(w, seeded[user, w]) for w in DEPLOYED if w in mine}
        if {e[:2] for e in everything} != expected:
            wrong.append(f"/runs: {everything}")
        paged: list[tuple[str, str, str]] = []
        target: str | None = "/runs?limit=1"
        while target:
            page = http.get(target, headers=headers).json()
            paged += [(r["workflow_id"], r["run_id"], r["status"]) for r in page["runs"]]
            target = page.get("next")
        if [e for e in paged if e[:2] in seeds] != everything:
            wrong.append(f"/runs by pages of 1: {paged}")
        for status in ("queued", "success"):
            got = listed(status=status)
            if got is not None and got != [e for e in everything if e[2] == status]:
                wrong.append(f"/runs?status={status}: {got}")
        for workflow in WORKFLOWS:
            one = http.get("/runs", params={"workflow": workflow}, headers=headers)
            if workflow not in mine:
                if one.status_code != 404:
                    wrong.append(f"/runs?workflow={workflow}: {one.status_code}, expected 404")
                continue
            got = listed(workflow=workflow)
            if got is not None and got != [e for e in everything if e[0] == workflow]:
                wrong.append(f"/runs?workflow={workflow}: {got}")
            both = listed(workflow=workflow, status="queued")
            want = [e for e in everything if e[0] == workflow and e[2] == "queued"]
            if both is not None and both != want:
                wrong.append(f"/runs?workflow={workflow}&status=queued: {both}")
        assert not wrong, f"{user}: {wrong}"

    def test_a_typo_suggests_only_an_id_i_may_use(
        self, user: str, config: dict, api: Api, http: httpx.Client
    ) -> None:
        """Each id with its last letter lost: the suggestion is the id when the user may use
        it, and otherwise none of the ids they may not use (existing or not)."""
        headers = api.headers(user)
        wrong: list[str] = []
        asks = [
            (selections_of(config, user), c, "/data-selections/workflows", {"data_id": c[:-1]})
            for c in COLLECTIONS
        ]
        for workflow in WORKFLOWS:
            for url, params in (
                (f"/workflows/{workflow[:-1]}", None),
                ("/runs", {"workflow": workflow[:-1]}),
            ):
                asks.append((workflows_of(config, user), workflow, url, params))
        for usable, wanted, url, params in asks:
            answer = http.get(url, params=params, headers=headers)
            if answer.status_code != 404:
                wrong.append(f"{url} {params}: {answer.status_code}, expected 404")
                continue
            hint = re.search(r"did you mean '([^']+)'\?", problem(answer)["detail"])
            suggested = hint.group(1) if hint else None
            if suggested is not None and suggested not in usable:
                wrong.append(f"{url} {params} suggests {suggested!r}")
            if wanted in usable and suggested != wanted:
                wrong.append(f"{url} {params} suggests {suggested!r}, not {wanted!r}")
        assert not wrong, f"{user}: {wrong}"

    def test_starting_every_pair(
        self, user: str, config: dict, api: Api, http: httpx.Client
    ) -> None:
        headers = api.headers(user)
        wrong: list[str] = []
        for collection in ALL_COLLECTIONS:
            for workflow in WORKFLOWS:
                answer = http.post(
                    f"/workflows/{workflow}/runs",
                    params={"dry_run": "true"},
                    json={"in_data_selection": collection, "tile_size": 16},
                    headers=headers,
                )
                expected = start_status(config, user, collection, workflow)
                if answer.status_code != expected:
                    wrong.append(f"{collection}/{workflow}: {answer.status_code} != {expected}")
                elif expected == 200:
                    conf = answer.json()["conf"]
                    entry = config["collections"][collection]
                    if (conf["username"], conf["in_prefix"]) != (user, entry["prefix"]):
                        wrong.append(f"{collection}/{workflow}: conf {conf}")
                else:
                    problem(answer)
        assert not wrong, f"{user}: {wrong}"

    def test_wes_starts_follow_the_same_rule(
        self, user: str, config: dict, api: Api, http: httpx.Client
    ) -> None:
        """The WES face answers each pair as the REST API does. WES has no dry run: the
        parameters name one no workflow takes, so a start the rule allows ends at the
        parameter check (422, before the paused check) and nothing runs."""
        headers = api.headers(user)
        wrong: list[str] = []
        for collection in ALL_COLLECTIONS:
            for workflow in WORKFLOWS:
                answer = http.post(
                    "/ga4gh/wes/v1/runs",
                    json={
                        "workflow_url": workflow,
                        "workflow_type": "AIRFLOW_DAG",
                        "workflow_type_version": "3",
                        "workflow_params": {"in_data_selection": collection, "matrix_probe": 1},
                    },
                    headers=headers,
                )
                expected = start_status(config, user, collection, workflow)
                expected = 422 if expected in (200, 409) else expected
                body = answer.json()
                if answer.status_code != expected or body.get("status_code") != expected:
                    wrong.append(f"{collection}/{workflow}: {answer.status_code} != {expected}")
                elif set(body) != {"msg", "status_code"}:
                    wrong.append(f"{collection}/{workflow}: not WES's error shape: {body}")
        assert not wrong, f"{user}: {wrong}"

    def test_wes_run_list_is_the_rest_run_list(
        self, user: str, api: Api, http: httpx.Client
    ) -> None:
        headers = api.headers(user)
        rest = http.get("/runs", headers=headers).json()["runs"]
        wes = http.get("/ga4gh/wes/v1/runs", params={"page_size": 1000}, headers=headers).json()
        assert [r["run_id"] for r in wes["runs"]] == [
            f"{r['workflow_id']}~{r['run_id']}" for r in rest
        ]

    def test_authorizer_agrees(self, user: str, config: dict, config_path: Path) -> None:
        """The Lambda authorizer's gate: Allow exactly the users named in some list."""
        settings = Settings(config=str(config_path), jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
        authorizer = build_authorizer(settings)
        event = {
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/workflows",
            "headers": {"Authorization": f"Bearer {mint_token(SECRET, user)}"},
        }
        listed = any(
            user in access["authorized_users"]
            for entry in config["collections"].values()
            for access in entry["workflows"].values()
        )
        effect = authorizer.authorize(event)["policyDocument"]["Statement"][0]["Effect"]
        assert effect == ("Allow" if listed else "Deny")


def test_the_generated_config_exercises_every_branch(config: dict) -> None:
    """Guards the generator: the matrix must contain each kind of answer."""
    statuses = {
        start_status(config, u, c, w) for u in USERS for c in ALL_COLLECTIONS for w in WORKFLOWS
    }
    assert statuses == {200, 403, 404, 409}
    assert "ghost" not in DEPLOYED
    assert any(not workflows_of(config, u) for u in USERS)
    assert any("/" in c and selections_of(config, u) >= {c} for u in USERS for c in COLLECTIONS)


def test_path_escaped_ids_do_not_widen_access(api: Api, http: httpx.Client) -> None:
    for user in USERS:
        headers = api.headers(user)
        for data_id in ("..", "%2e%2e", "*", "", " ", quote("nebraska_images/", safe="")):
            answer = http.get(
                "/data-selections/workflows", params={"data_id": data_id}, headers=headers
            )
            assert answer.status_code in (400, 404), (user, data_id, answer.status_code)
