"""The access config: which users may run which workflow on which data selection."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labcas_workflow_api.domain.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkflowAccess(_Strict):
    """A workflow enabled on a collection, with the users allowed to run it there."""

    authorized_users: list[str] = Field(min_length=1)
    description: str | None = None


class Collection(_Strict):
    """A data selection: where its data lives and the workflows enabled on it."""

    bucket: str = Field(min_length=1)
    prefix: str = ""
    description: str | None = None
    workflows: dict[str, WorkflowAccess] = Field(default_factory=dict)


class AccessConfig(_Strict):
    """The whole access document (``collections:`` at the top).

    ``collections`` is required: an empty document is far more often a truncated write than
    a wish to lock everyone out (say ``collections: {}`` for that).
    """

    collections: dict[str, Collection]

    def users(self) -> set[str]:
        return {
            user
            for collection in self.collections.values()
            for access in collection.workflows.values()
            for user in access.authorized_users
        }


def _describe(error: dict[str, Any]) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(document)"
    known = {"missing": "field required", "extra_forbidden": "unknown key"}
    message = known.get(error["type"], error["msg"])
    return f"{path}: {message}"


def parse_access_config(text: str, source: str = "config") -> AccessConfig:
    """Parse and validate the YAML text; raise ConfigError naming every bad key."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: (document): expected a mapping with 'collections'")
    try:
        return AccessConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(_describe(dict(e)) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None
