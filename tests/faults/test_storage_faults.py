"""The S3 server stopped, slow or silent under steady requests; metadata sidecars under
concurrent writers and across a storage failure."""

from __future__ import annotations

import configparser
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.faults.conftest import ENGINE_CALLS, MIX, STORAGE_CALLS
from tests.faults.steady import Steady, bad_answers, summary
from tests.security.stack import STAGING, Api, Stack

pytestmark = pytest.mark.integration

# storage: connect 2 s, read 5 s, 2 attempts
LIMIT = 13.0


def test_s3_stopped_then_started_again(api: Api, stack: Stack) -> None:
    with Steady(api.url, api.headers("thomas"), MIX) as load:
        time.sleep(1.5)
        down = time.monotonic()
        try:
            stack.stop_s3()
            load.wait_for(lambda o: o.name in STORAGE_CALLS and o.status == 503, 30, since=down)
            time.sleep(3)
            ready = httpx.get(api.url + "/readyz", timeout=LIMIT)
            assert ready.status_code == 503
            assert ready.json()["checks"]["storage"] != "ok"
        finally:
            back = time.monotonic()
            stack.start_s3()
        during = load.between(down, back)
        recovered_after = load.wait_recovered(30, since=time.monotonic())
    print(f"\nS3 down {back - down:.1f}s: {summary(during)}; recovered in {recovered_after:.1f}s")
    assert not bad_answers(during, limit=LIMIT), bad_answers(during, limit=LIMIT)
    assert all(o.ok for o in during if o.name in ENGINE_CALLS), "runs need no S3 to be listed"
    listing = httpx.get(api.url + "/output-data/steady/", headers=api.headers("thomas")).json()
    assert listing["files"]["data.csv"]["properties"] == {"k": "v"}, "data survived the restart"


@pytest.mark.parametrize("mode", ["slow", "silent"])
def test_slow_or_silent_s3(api: Api, stack: Stack, mode: str) -> None:
    with Steady(api.url, api.headers("thomas"), MIX) as load:
        start = time.monotonic()
        if mode == "silent":
            stack.s3_proxy.hang = True
            load.wait_for(lambda o: o.name in STORAGE_CALLS and o.status == 504, 40, since=start)
        else:
            stack.s3_proxy.delay = 1.0
            time.sleep(6)
        stack.s3_proxy.reset()
        end = time.monotonic()
        during = load.between(start, end)
        load.wait_recovered(40, since=end)
    print(f"\nS3 {mode}: {summary(during)}")
    allowed = frozenset({504}) if mode == "silent" else frozenset()
    assert not bad_answers(during, allowed=allowed, limit=LIMIT), bad_answers(
        during, allowed, LIMIT
    )


WRITERS = 12
ROUNDS = 4
KEYS = ("writer", "alpha", "beta", "gamma", "delta")


def _version(writer: int) -> dict[str, str]:
    return {key: f"{key}-{writer}-" + "x" * 300 for key in KEYS}


def _sidecar(stack: Stack, key: str) -> dict[str, str]:
    body = stack.s3_client(direct=True).get_object(Bucket=STAGING, Key=key)["Body"].read()
    parser = configparser.RawConfigParser(default_section="\x00", interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(body.decode())
    assert parser.sections() == ["data.csv"], parser.sections()
    return dict(parser.items("data.csv"))


def test_concurrent_puts_on_one_sidecar_end_with_one_complete_version(
    api: Api, stack: Stack
) -> None:
    s3 = stack.s3_client(direct=True)
    s3.put_object(Bucket=STAGING, Key="thomas/race/data.csv", Body=b"1,2\n")
    versions = [_version(i) for i in range(WRITERS)]
    seen: list[dict[str, str]] = []
    stop = threading.Event()

    def write(writer: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
            for _ in range(ROUNDS):
                answer = http.put(
                    "/output-data/race",
                    json={"files": {"data.csv": {"properties": versions[writer]}}},
                )
                statuses.append(answer.status_code)
        return statuses

    def read() -> None:
        with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
            while not stop.is_set():
                answer = http.get("/output-data/race/")
                if answer.status_code == 200:
                    seen.append(answer.json()["files"]["data.csv"]["properties"])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = [s for result in pool.map(write, range(WRITERS)) for s in result]
    stop.set()
    reader.join(timeout=30)
    assert statuses == [200] * (WRITERS * ROUNDS)
    final = _sidecar(stack, "thomas/race/data.csv.cfg")
    assert final in versions
    listed = httpx.get(
        api.url + "/output-data/race/", headers=api.headers("thomas"), timeout=30
    ).json()["files"]["data.csv"]["properties"]
    assert listed == final
    mixed = [p for p in seen if p and p not in versions]
    assert not mixed, f"{len(mixed)} reads saw a mix"
    print(f"\n{WRITERS * ROUNDS} concurrent PUTs, {len(seen)} reads, all complete versions")


def test_a_put_during_a_storage_failure_keeps_the_old_sidecar(api: Api, stack: Stack) -> None:
    s3 = stack.s3_client(direct=True)
    s3.put_object(Bucket=STAGING, Key="thomas/keep/data.csv", Body=b"1,2\n")
    old = _version(0)
    with httpx.Client(base_url=api.url, headers=api.headers("thomas"), timeout=30) as http:
        assert (
            http.put(
                "/output-data/keep", json={"files": {"data.csv": {"properties": old}}}
            ).status_code
            == 200
        )
        try:
            stack.s3_proxy.down()
            began = time.monotonic()
            answer = http.put(
                "/output-data/keep", json={"files": {"data.csv": {"properties": _version(1)}}}
            )
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert time.monotonic() - began < LIMIT
        finally:
            stack.s3_proxy.up()
        assert _sidecar(stack, "thomas/keep/data.csv.cfg") == old
        after = http.get("/output-data/keep/")
        assert after.status_code == 200, after.text
        listed = after.json()["files"]["data.csv"]["properties"]
        assert listed == old


def test_stale_keep_alive_connections_after_a_cut_are_replaced(stack: Stack) -> None:
    """Every pooled connection dies in a cut; the first read after it still succeeds."""
    store = stack.store()
    s3 = stack.s3_client(direct=True)
    keys = [f"thomas/pool/{i}.csv" for i in range(12)]
    for key in keys:
        s3.put_object(Bucket=STAGING, Key=key, Body=b"x")
    try:
        for _ in range(3):
            assert len(store.get_many(STAGING, keys)) == len(keys)  # fills the pool
        stack.s3_proxy.down()
        stack.s3_proxy.up()
        listing = store.list(STAGING, "thomas/pool/")
        assert len(listing.objects) == len(keys)
        assert len(store.get_many(STAGING, keys)) == len(keys)
    finally:
        store.close()
