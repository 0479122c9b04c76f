"""What a caller may see: data selections and workflows, decided by the policy."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from labcas_workflow_api.access_source import AccessConfigSource
from labcas_workflow_api.auth import policy
from labcas_workflow_api.cache import Cached
from labcas_workflow_api.domain.access import AccessConfig
from labcas_workflow_api.domain.errors import NotFound
from labcas_workflow_api.domain.models import Workflow
from labcas_workflow_api.engines.base import WorkflowEngine


@dataclass(frozen=True)
class Entry:
    """An id with a human description, as listed to clients."""

    id: str
    description: str | None


@dataclass(frozen=True)
class WorkflowView:
    """A workflow as one caller sees it."""

    workflow: Workflow
    data_selections: list[str]


class Catalog:
    """Data selections and workflows visible to a caller.

    Deployed workflows, and the details of each visible workflow, are cached for
    ``deployed_ttl`` seconds so that listing and detail endpoints do not ask the engine on
    every request (a paused flag or a param schema may so be a few seconds old; starting a
    run reads them fresh). Methods raise NotFound for what the caller may not see, and the
    engine's UpstreamError subclasses.
    """

    def __init__(
        self, engine: WorkflowEngine, access: AccessConfigSource, *, deployed_ttl: float = 10
    ) -> None:
        self.engine = engine
        self.access = access
        self._deployed_ttl = deployed_ttl
        self._deployed = Cached(
            lambda: {w.id: w for w in self.engine.list_workflows()},
            deployed_ttl,
            name="deployed workflows",
        )
        self._details: dict[str, Cached[Workflow]] = {}
        self._lock = threading.Lock()

    def deployed(self) -> dict[str, Workflow]:
        """Workflows deployed in the engine by id (briefly cached)."""
        return self._deployed.get()

    def details(self, workflow_id: str) -> Workflow:
        """One deployed workflow with its parameters (briefly cached); call it only for
        workflows the caller may see, so that the cache holds deployed ones only."""
        with self._lock:
            cached = self._details.get(workflow_id)
            if cached is None:
                cached = Cached(
                    lambda: self.engine.get_workflow(workflow_id),
                    self._deployed_ttl,
                    name=f"workflow {workflow_id}",
                )
                self._details[workflow_id] = cached
        try:
            return cached.get()
        except NotFound as exc:  # undeployed meanwhile; the engine's own words stay in the log
            raise NotFound(f"workflow {workflow_id!r} not found", internal=exc.detail) from None

    def config(self) -> AccessConfig:
        return self.access.get()

    def data_selections(self, username: str) -> list[Entry]:
        config = self.config()
        return [
            Entry(cid, config.collections[cid].description)
            for cid in policy.usable_collections(config, self.deployed(), username)
        ]

    def workflows_for_selection(self, username: str, data_id: str) -> list[Entry]:
        config = self.config()
        deployed = self.deployed()
        usable = policy.usable_collections(config, deployed, username)
        if data_id not in usable:
            raise policy.not_found("data selection", data_id, usable)
        collection = config.collections[data_id]
        return [
            Entry(wid, collection.workflows[wid].description or deployed[wid].description)
            for wid in policy.runnable_workflows(config, deployed, username, data_id)
        ]

    def workflows(self, username: str) -> list[Entry]:
        deployed = self.deployed()
        visible = policy.visible_workflows(self.config(), deployed, username)
        return [Entry(wid, deployed[wid].description) for wid in sorted(visible)]

    def workflow(self, username: str, workflow_id: str) -> WorkflowView:
        config = self.config()
        deployed = self.deployed()
        policy.require_visible_workflow(config, deployed, username, workflow_id)
        selections = policy.collections_for_workflow(config, deployed, username, workflow_id)
        return WorkflowView(self.details(workflow_id), selections)
