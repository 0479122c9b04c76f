"""A generated access config and the authorization rule written out independently, as the oracle.

Users: four named in various lists, ``mallory`` in none. Collections: four, one with a ``/`` in
its id, plus ``no_such_collection`` that the config does not have. Workflows: ``alpha``,
``beta``, ``gamma`` (deployed), ``frozen`` (deployed, paused), ``ghost`` (in the config, not
deployed) and ``never_heard_of`` (nowhere).
"""

from __future__ import annotations

import random
from typing import Any

from tests.security.stack import DATA, DEPLOYED, PAUSED

USERS = ("thomas", "dliu", "eve", "heather", "mallory")
LISTED_USERS = USERS[:-1]
COLLECTIONS = ("nebraska_images", "group/lung_images", "colon_images", "tiny")
UNKNOWN_COLLECTION = "no_such_collection"
WORKFLOWS = ("alpha", "beta", "gamma", "frozen", "ghost", "never_heard_of")
CONFIGURED_WORKFLOWS = WORKFLOWS[:-1]


def generated_config(seed: int = 7) -> dict[str, Any]:
    """Each collection enables a random subset of the configured workflows for random users;
    every listed user can run at least one deployed, unpaused workflow somewhere."""
    rng = random.Random(seed)
    while True:
        collections: dict[str, Any] = {}
        for cid in COLLECTIONS:
            workflows = {}
            for wid in CONFIGURED_WORKFLOWS:
                if rng.random() < 0.3:
                    continue
                users = [u for u in LISTED_USERS if rng.random() < 0.45]
                workflows[wid] = {"authorized_users": users or [rng.choice(LISTED_USERS)]}
            entry: dict[str, Any] = {"bucket": DATA, "prefix": cid + "/", "workflows": workflows}
            if rng.random() < 0.5:
                entry["description"] = f"Generated collection {cid}"
            collections[cid] = entry
        config = {"collections": collections}
        if all(_runnable_somewhere(config, user) for user in LISTED_USERS) and all(
            c["workflows"] for c in collections.values()
        ):
            return config


def _runnable_somewhere(config: dict[str, Any], user: str) -> bool:
    return any(
        may_run(config, user, cid, wid) and wid not in PAUSED
        for cid in COLLECTIONS
        for wid in WORKFLOWS
    )


def may_run(config: dict[str, Any], user: str, collection: str, workflow: str) -> bool:
    """The rule: listed for that pair in the config, and the workflow deployed."""
    entry = config["collections"].get(collection)
    if entry is None or workflow not in DEPLOYED:
        return False
    access = entry["workflows"].get(workflow)
    return access is not None and user in access["authorized_users"]


def selections_of(config: dict[str, Any], user: str) -> set[str]:
    return {c for c in COLLECTIONS if any(may_run(config, user, c, w) for w in WORKFLOWS)}


def workflows_of(config: dict[str, Any], user: str) -> set[str]:
    return {w for w in WORKFLOWS if any(may_run(config, user, c, w) for c in COLLECTIONS)}


def start_status(config: dict[str, Any], user: str, collection: str, workflow: str) -> int:
    """What a dry-run start must answer: 404 for a data selection or a workflow the user may use
    nowhere (existing or not), 403 only for two they may use, but not together."""
    if collection not in selections_of(config, user) or workflow not in workflows_of(config, user):
        return 404
    if not may_run(config, user, collection, workflow):
        return 403
    return 409 if workflow in PAUSED else 200
