"""What a caller may see: data selections and workflows, decided by the policy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from labcas_workflow_api.access_source import AccessConfigSource
from labcas_workflow_api.auth import policy
from labcas_workflow_api.cache import Cached, Recent
from labcas_workflow_api.domain.access import AccessConfig
from labcas_workflow_api.domain.errors import NotFound
from labcas_workflow_api.domain.models import Workflow
from labcas_workflow_api.engines.base import WorkflowEngine


@contextmanager
def not_found_as(kind: str, name: str) -> Iterator[None]:
    """The engine's NotFound in our words; its own, which may quote the engine's answer, stay
    in the log."""
    try:
        yield
    except NotFound as exc:
        raise NotFound(f"{kind} {name!r} not found", internal=exc.detail) from None


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


@dataclass(frozen=True)
class UserView:
    """What one user may use and run, as the policy works it out from one access config and
    one set of deployed workflows (in the config's order; workflows listed by id)."""

    data_selections: list[Entry]
    workflows: list[Entry]
    runnable: dict[str, list[Entry]]  # data selection -> the workflows runnable on it
    selections_of: dict[str, list[str]]  # workflow -> the data selections it runs on

    @classmethod
    def of(cls, config: AccessConfig, deployed: dict[str, Workflow], username: str) -> UserView:
        runnable: dict[str, list[Entry]] = {}
        selections_of: dict[str, list[str]] = {}
        for cid, collection in config.collections.items():
            workflow_ids = policy.runnable_workflows(config, deployed, username, cid)
            if not workflow_ids:
                continue
            runnable[cid] = [
                Entry(wid, collection.workflows[wid].description or deployed[wid].description)
                for wid in workflow_ids
            ]
            for wid in workflow_ids:
                selections_of.setdefault(wid, []).append(cid)
        return cls(
            data_selections=[Entry(cid, config.collections[cid].description) for cid in runnable],
            workflows=[Entry(wid, deployed[wid].description) for wid in sorted(selections_of)],
            runnable=runnable,
            selections_of=selections_of,
        )

    def workflows_for_selection(self, data_id: str) -> list[Entry]:
        """NotFound for a data selection the user may use nowhere (existing or not)."""
        found = self.runnable.get(data_id)
        if found is None:
            raise policy.not_found("data selection", data_id, self.runnable)
        return found

    def selections_for(self, workflow_id: str) -> list[str]:
        """NotFound for a workflow the user may run nowhere (existing or not)."""
        found = self.selections_of.get(workflow_id)
        if found is None:
            raise policy.not_found("workflow", workflow_id, self.selections_of)
        return found


class Catalog:
    """Data selections and workflows visible to a caller; NotFound for what they may not see,
    and the engine's UpstreamError subclasses.

    Deployed workflows and their details are cached ``deployed_ttl`` seconds (a paused flag or
    param schema may be that old; starting a run reads them fresh); each of the 1,000 most
    recent users' ``UserView`` while its config and deployed workflows are current.
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
        self._views: Recent[str, tuple[AccessConfig, dict[str, Workflow], UserView]] = Recent(1000)

    def deployed(self) -> dict[str, Workflow]:
        return self._deployed.get()

    def details(self, workflow_id: str) -> Workflow:
        """One deployed workflow with its parameters; only for workflows the caller may see, so
        that the cache holds deployed ones only."""
        with self._lock:
            if workflow_id not in self._details:
                self._details[workflow_id] = Cached(
                    lambda: self.engine.get_workflow(workflow_id),
                    self._deployed_ttl,
                    name=f"workflow {workflow_id}",
                )
            cached = self._details[workflow_id]
        with not_found_as("workflow", workflow_id):  # undeployed meanwhile
            return cached.get()

    def config(self) -> AccessConfig:
        return self.access.get()

    def view(self, username: str) -> UserView:
        config, deployed = self.config(), self.deployed()
        held = self._views.get(username)
        if held is not None and held[0] is config and held[1] is deployed:
            return held[2]
        view = UserView.of(config, deployed, username)
        self._views.put(username, (config, deployed, view))
        return view

    def workflow(self, username: str, workflow_id: str) -> WorkflowView:
        selections = self.view(username).selections_for(workflow_id)
        return WorkflowView(self.details(workflow_id), selections)
