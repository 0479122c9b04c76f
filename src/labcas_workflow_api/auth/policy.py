"""The one authorization rule, asked by every endpoint, and the views it implies.

A user may run workflow W on data selection C only if listed in
``collections.C.workflows.W.authorized_users`` and W is deployed; one listed nowhere may use
nothing, not even their own outputs (``require_listed``).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection as Set
from collections.abc import Iterable

from labcas_workflow_api.domain.access import AccessConfig, Collection
from labcas_workflow_api.domain.errors import Forbidden, NotFound


def may_run(
    config: AccessConfig, deployed: Set[str], username: str, collection_id: str, workflow_id: str
) -> bool:
    """The rule itself."""
    collection = config.collections.get(collection_id)
    if collection is None or workflow_id not in deployed:
        return False
    access = collection.workflows.get(workflow_id)
    return access is not None and username in access.authorized_users


def usable_collections(config: AccessConfig, deployed: Set[str], username: str) -> list[str]:
    """Collections on which the user may run at least one workflow."""
    return [
        cid for cid in config.collections if runnable_workflows(config, deployed, username, cid)
    ]


def runnable_workflows(
    config: AccessConfig, deployed: Set[str], username: str, collection_id: str
) -> list[str]:
    """Workflows the user may run on this collection (deployed, enabled, authorized)."""
    collection = config.collections.get(collection_id)
    workflows = collection.workflows if collection is not None else {}
    return [w for w in workflows if may_run(config, deployed, username, collection_id, w)]


def collections_for_workflow(
    config: AccessConfig, deployed: Set[str], username: str, workflow_id: str
) -> list[str]:
    """Collections on which the user may run this workflow."""
    return [
        cid for cid in config.collections if may_run(config, deployed, username, cid, workflow_id)
    ]


def visible_workflows(config: AccessConfig, deployed: Set[str], username: str) -> set[str]:
    """Workflows the user may run on at least one collection."""
    return {
        wid
        for cid in config.collections
        for wid in runnable_workflows(config, deployed, username, cid)
    }


def require_visible_workflow(
    config: AccessConfig, deployed: Set[str], username: str, workflow_id: str
) -> None:
    """NotFound unless the user may run the workflow somewhere (existence must not leak)."""
    if not collections_for_workflow(config, deployed, username, workflow_id):
        raise not_found("workflow", workflow_id, visible_workflows(config, deployed, username))


def require_run(
    config: AccessConfig,
    deployed: Set[str],
    username: str,
    collection_id: str,
    workflow_id: str,
) -> Collection:
    """The collection when the user may run the workflow on it. NotFound for a data selection
    or workflow the user may use nowhere, existing or not (answers do not tell which exist);
    Forbidden only when the user may use both, but not together."""
    usable = usable_collections(config, deployed, username)
    if collection_id not in usable:
        raise not_found("data selection", collection_id, usable)
    require_visible_workflow(config, deployed, username, workflow_id)
    if not may_run(config, deployed, username, collection_id, workflow_id):
        raise Forbidden(f"you may not run {workflow_id!r} on data selection {collection_id!r}")
    return config.collections[collection_id]


def not_found(kind: str, wanted: str, choices: Iterable[str]) -> NotFound:
    """NotFound for ``wanted``, suggesting the closest of ``choices`` (ids the caller may use)."""
    close = difflib.get_close_matches(wanted, sorted(choices), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return NotFound(f"{kind} {wanted!r} not found{hint}")


def has_any_access(config: AccessConfig, username: str) -> bool:
    """Whether the user is named in any authorized_users list (the Lambda authorizer's gate)."""
    return username in config.users()


def require_listed(config: AccessConfig, username: str) -> None:
    """Forbidden unless the user is named in some authorized_users list: the gate of what
    belongs to no workflow (a user's outputs), the same as the Lambda authorizer's."""
    if not has_any_access(config, username):
        raise Forbidden("your account is not authorized to use LabCAS workflows or their outputs")
