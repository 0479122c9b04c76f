"""Each user's view of the catalog: what the policy allows, worked out once per access config
and set of deployed workflows, and answered without waiting only from what is held fresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from labcas_workflow_api.access_source import AccessConfigSource
from labcas_workflow_api.auth import policy
from labcas_workflow_api.cache import WouldWait, without_waiting
from labcas_workflow_api.domain.errors import NotFound
from labcas_workflow_api.service.catalog import Catalog, UserView
from tests.unit.fakes import FakeEngine, write_config

USERS = ["thomas", "dliu", "eve", "mallory"]


def catalog(tmp_path: Path, *, config_ttl: float = 60, deployed_ttl: float = 10) -> Catalog:
    access = AccessConfigSource(str(write_config(tmp_path)), config_ttl)
    return Catalog(FakeEngine(), access, deployed_ttl=deployed_ttl)


@pytest.mark.parametrize("user", USERS)
def test_a_view_says_what_the_policy_says(tmp_path: Path, user: str) -> None:
    c = catalog(tmp_path)
    config, deployed = c.config(), c.deployed()
    view = UserView.of(config, deployed, user)
    usable = policy.usable_collections(config, deployed, user)
    assert [e.id for e in view.data_selections] == usable
    assert [e.id for e in view.workflows] == sorted(
        policy.visible_workflows(config, deployed, user)
    )
    for cid in config.collections:
        if cid in usable:
            runnable = policy.runnable_workflows(config, deployed, user, cid)
            assert [e.id for e in view.workflows_for_selection(cid)] == runnable
        else:
            with pytest.raises(NotFound):
                view.workflows_for_selection(cid)
    for wid in [*deployed, "undeployed_dag", "no_such_dag"]:
        selections = policy.collections_for_workflow(config, deployed, user, wid)
        if selections:
            assert view.selections_for(wid) == selections
        else:
            with pytest.raises(NotFound, match="not found"):
                view.selections_for(wid)


def test_a_view_is_answered_without_waiting_once_its_parts_are_held(tmp_path: Path) -> None:
    c = catalog(tmp_path)
    with pytest.raises(WouldWait):
        without_waiting(c.view, "thomas")
    view = c.view("thomas")
    assert without_waiting(c.view, "thomas") is view
    assert without_waiting(c.view, "dliu") == c.view("dliu")  # worked out on the spot


def test_no_view_is_answered_without_waiting_from_stale_deployed_workflows(
    tmp_path: Path,
) -> None:
    c = catalog(tmp_path, deployed_ttl=0)
    c.view("thomas")
    with pytest.raises(WouldWait):
        without_waiting(c.view, "thomas")
    assert [e.id for e in c.view("thomas").data_selections] == ["nebraska_images", "other/images"]


def test_no_view_is_answered_without_waiting_from_a_stale_config(tmp_path: Path) -> None:
    c = catalog(tmp_path, config_ttl=0)
    c.view("thomas")
    with pytest.raises(WouldWait):
        without_waiting(c.view, "thomas")


def test_a_new_config_makes_a_new_view(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    access = AccessConfigSource(str(path), 0)
    c = Catalog(FakeEngine(), access)
    assert [e.id for e in c.view("eve").data_selections] == ["private"]
    path.write_text(path.read_text().replace("[eve]", "[mallory]"))
    assert [e.id for e in c.view("eve").data_selections] == []
    assert [e.id for e in c.view("mallory").data_selections] == ["private"]


def test_a_workflow_is_answered_without_waiting_once_its_details_are_held(
    tmp_path: Path,
) -> None:
    c = catalog(tmp_path)
    with pytest.raises(WouldWait):
        without_waiting(c.workflow, "thomas", "nebraska_demo")
    c.view("thomas")
    with pytest.raises(WouldWait):  # details not read yet
        without_waiting(c.workflow, "thomas", "nebraska_demo")
    with pytest.raises(NotFound, match="'private_dag' not found"):
        without_waiting(c.workflow, "thomas", "private_dag")
    found = c.workflow("thomas", "nebraska_demo")
    held = without_waiting(c.workflow, "thomas", "nebraska_demo")
    assert held == found
    assert held.data_selections == ["nebraska_images"]
