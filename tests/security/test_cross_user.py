"""Nobody reaches another user's runs, run details, logs, outputs or metadata.

Every listed user starts a real run (cheap DAG on the real Airflow) and gets outputs with a
metadata sidecar in the real S3 server; then every other user tries every run-scoped route the
app serves, the outputs by every path that could lead there, and writing metadata to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.security.matrix import COLLECTIONS, PAUSED, USERS, WORKFLOWS, may_run
from tests.security.stack import STAGING, Api, Stack, problem

pytestmark = pytest.mark.integration

PLACEHOLDERS = {"task_id": "start", "try_number": "1", "map_index": "-1"}
SERVER_SET = {"in_bucket", "in_prefix", "out_bucket", "out_prefix", "username"}


@dataclass
class OwnedRun:
    user: str
    workflow: str
    run_id: str
    folder: str  # the run's folder relative to the owner's area, e.g. "2026...000/"
    output_url: str


@pytest.fixture(scope="module")
def runs(api: Api, stack: Stack, config_path: Path) -> dict[str, OwnedRun]:
    config = yaml.safe_load(config_path.read_text())
    s3 = stack.s3_client(direct=True)
    owned: dict[str, OwnedRun] = {}
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for user in USERS:
            pairs = [
                (c, w)
                for w in WORKFLOWS
                for c in COLLECTIONS
                if may_run(config, user, c, w) and w not in PAUSED
            ]
            if not pairs:
                continue
            collection, workflow = pairs[0]
            answer = http.post(
                f"/workflows/{workflow}/runs",
                json={"in_data_selection": collection, "note": f"run of {user}"},
                headers={**api.headers(user), "Idempotency-Key": "shared-key-1"},
            )
            assert answer.status_code == 201, answer.text
            started = answer.json()
            folder = urlsplit(started["output_url"]).path.split("/output-data/", 1)[1]
            prefix = f"{user}/{folder}"
            s3.put_object(Bucket=STAGING, Key=prefix + "result.csv", Body=b"a,b\n1,2\n")
            s3.put_object(
                Bucket=STAGING,
                Key=prefix + "result.csv.cfg",
                Body=f"[result.csv]\nowner = {user}\n".encode(),
            )
            owned[user] = OwnedRun(user, workflow, started["run_id"], folder, started["output_url"])
    assert len(owned) >= 3
    return owned


def run_routes(api: Api, run: OwnedRun) -> list[tuple[str, str]]:
    """Every (method, concrete path) of the app's run-scoped routes, for this run."""
    routes = []
    for method, path in api.routes():
        if "{run_id" not in path:
            continue
        # a WES run id names the workflow too (docs/wes.rst)
        wes = path.startswith("/ga4gh/wes/")
        run_id = f"{run.workflow}~{run.run_id}" if wes else run.run_id
        concrete = path.replace("{workflow_id}", run.workflow).replace("{run_id}", run_id)
        concrete = re.sub(
            r"\{(\w+)(:\w+)?\}", lambda m: PLACEHOLDERS.get(m.group(1), "x"), concrete
        )
        routes.append((method, concrete))
    assert routes or not api.serves("GET", f"/workflows/{run.workflow}/runs/{run.run_id}")
    return routes


def test_the_owner_sees_their_run(api: Api, runs: dict[str, OwnedRun]) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for run in runs.values():
            headers = api.headers(run.user)
            listed = http.get(f"/workflows/{run.workflow}/runs", headers=headers).json()["runs"]
            assert run.run_id in {r["run_id"] for r in listed}
            for entry in listed:  # the conf shown back omits the server-set keys
                assert not SERVER_SET & entry["conf"].keys(), entry
            if api.serves("GET", f"/workflows/{run.workflow}/runs/{run.run_id}"):
                detail = http.get(f"/workflows/{run.workflow}/runs/{run.run_id}", headers=headers)
                assert detail.status_code == 200, detail.text
                assert not SERVER_SET & detail.json()["conf"].keys(), detail.text
            browse = http.get(run.output_url, headers=headers)
            assert browse.status_code == 200, browse.text
            assert browse.json()["files"]["result.csv"]["properties"] == {"owner": run.user}


def test_the_same_idempotency_key_gives_each_user_their_own_run(
    runs: dict[str, OwnedRun],
) -> None:
    ids = [r.run_id for r in runs.values()]
    assert len(set(ids)) == len(ids)
    for run in runs.values():
        assert run.run_id.startswith(f"labcas__{run.user}__")


@pytest.mark.parametrize("intruder", USERS)
def test_no_access_to_other_users_runs(intruder: str, api: Api, runs: dict[str, OwnedRun]) -> None:
    headers = api.headers(intruder)
    wrong: list[str] = []
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for owner, run in runs.items():
            if owner == intruder:
                continue
            listing = http.get(f"/workflows/{run.workflow}/runs", headers=headers)
            if listing.status_code == 200:
                leaked = [r for r in listing.json()["runs"] if r["run_id"] == run.run_id]
                if leaked:
                    wrong.append(f"run list shows {owner}'s run")
            elif listing.status_code != 404:
                wrong.append(f"run list: {listing.status_code}")
            for everything in ("/runs", "/dev/runs", f"/runs?workflow={run.workflow}"):
                listing = http.get(everything, headers=headers)
                if listing.status_code == 200:
                    if run.run_id in {r["run_id"] for r in listing.json()["runs"]}:
                        wrong.append(f"{everything} shows {owner}'s run")
                elif listing.status_code != 404:
                    wrong.append(f"{everything}: {listing.status_code}")
            for method, path in run_routes(api, run):
                for prefix in ("", "/dev"):
                    answer = http.request(method, prefix + path, headers=headers, json={})
                    if answer.status_code not in (403, 404):
                        wrong.append(f"{method} {prefix}{path}: {answer.status_code}")
                    elif path.startswith("/ga4gh/wes/"):  # WES's error shape
                        assert answer.json() == {
                            "msg": answer.json()["msg"],
                            "status_code": answer.status_code,
                        }, answer.text
                    else:
                        problem(answer)
    assert not wrong, f"{intruder}: {wrong}"


def test_cancel_attempts_leave_other_users_runs_alone(api: Api, runs: dict[str, OwnedRun]) -> None:
    """After every intruder tried every route, each run is still its owner's and not failed
    by anyone else (the cheap DAG finishes with success)."""
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for run in runs.values():
            listed = http.get(
                f"/workflows/{run.workflow}/runs", headers=api.headers(run.user)
            ).json()["runs"]
            mine = next(r for r in listed if r["run_id"] == run.run_id)
            assert mine["status"] in ("queued", "running", "success"), mine


@pytest.mark.parametrize("intruder", USERS)
def test_no_access_to_other_users_outputs(
    intruder: str, api: Api, stack: Stack, runs: dict[str, OwnedRun]
) -> None:
    headers = api.headers(intruder)
    s3 = stack.s3_client(direct=True)
    wrong: list[str] = []
    with httpx.Client(base_url=api.url, timeout=30) as http:
        root = http.get("/output-data/", headers=headers)
        mine = runs.get(intruder)
        visible = set(root.json()["folders"]) if root.status_code == 200 else set()
        others = {r.folder for r in runs.values() if r.user != intruder}
        if visible & (others - ({mine.folder} if mine else set())):
            wrong.append(f"root listing shows {visible & others}")
        if root.status_code == 200:
            for name, link in root.json()["folders"].items():
                shown = link.get("run")
                if shown and not shown["run_id"].startswith(f"labcas__{intruder}__"):
                    wrong.append(f"root listing ties {name} to {shown['run_id']}")
        for owner, run in runs.items():
            if owner == intruder:
                continue
            same_stamp = mine is not None and mine.folder == run.folder
            targets = [
                f"/output-data/{owner}/{run.folder}",
                f"/output-data/{owner}/{run.folder}result.csv",
                f"/dev/output-data/{owner}/{run.folder}",
                *([] if same_stamp else [run.output_url, f"/output-data/{run.folder}"]),
            ]
            for target in targets:
                answer = http.get(target, headers=headers)
                if answer.status_code not in (400, 403, 404):
                    wrong.append(f"GET {target}: {answer.status_code}")
            for target in targets[:1] + targets[-1:]:
                answer = http.put(
                    target,
                    json={"files": {"result.csv": {"properties": {"owner": intruder}}}},
                    headers=headers,
                )
                if answer.status_code not in (400, 403, 404):
                    wrong.append(f"PUT {target}: {answer.status_code}")
            sidecar = s3.get_object(Bucket=STAGING, Key=f"{owner}/{run.folder}result.csv.cfg")
            if sidecar["Body"].read() != f"[result.csv]\nowner = {owner}\n".encode():
                wrong.append(f"{owner}'s sidecar was changed")
    assert not wrong, f"{intruder}: {wrong}"


def test_presigned_links_only_for_the_owner(api: Api, runs: dict[str, OwnedRun]) -> None:
    """A user's listing links only to objects under their own prefix."""
    with httpx.Client(base_url=api.url, timeout=30) as http:
        for run in runs.values():
            answer = http.get(run.output_url, headers=api.headers(run.user)).json()
            for entry in answer["files"].values():
                path = urlsplit(entry["href"]).path
                assert path.startswith(f"/{STAGING}/{run.user}/"), path
