"""The wire of the caller's outputs: folder listings (the top one with each folder's run) and
metadata annotations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from labcas_workflow_api.domain.models import RunStatus
from labcas_workflow_api.wire.fields import Links, Timestamp, optional, run_fields

if TYPE_CHECKING:
    from labcas_workflow_api.domain import models as domain
    from labcas_workflow_api.service.outputs import FileEntry as OutputFile
    from labcas_workflow_api.service.outputs import FolderEntry


def web_folder(links: Links, relative: str) -> str | None:
    """The web app's page of a folder relative to the caller's area."""
    return links.web("outputs", *(part for part in relative.split("/") if part))


class FolderRun(BaseModel):
    """The run that wrote a folder (in the top folder's listing)."""

    run_id: str
    workflow_id: str
    status: RunStatus
    start_time: Timestamp | None
    end_time: Timestamp | None
    conf: dict[str, Any] = Field(
        description="The run's parameters and `in_data_selection` (server-set keys removed)"
    )
    href: str = Field(description="The run (`GET /workflows/{workflow_id}/runs/{run_id}`)")
    web_url: str | SkipJsonSchema[None] = optional(
        "The web app's page of the run (when served here)"
    )
    partial: bool = Field(
        description=(
            "The run ended without succeeding (cancelled or failed): the folder holds what it "
            "wrote until then"
        )
    )

    @classmethod
    def of(cls, run: domain.Run, links: Links) -> FolderRun:
        return cls(
            **run_fields(run, links),
            href=links.run(run.workflow_id, run.run_id),
            partial=run.status in (RunStatus.CANCELLED, RunStatus.FAILED),
        )


class FolderLink(BaseModel):
    href: str
    web_url: str | SkipJsonSchema[None] = optional(
        "The web app's page of the folder (when served here)"
    )
    run: FolderRun | SkipJsonSchema[None] = optional(
        "The run that wrote the folder (in the top folder, when it is known)"
    )

    @classmethod
    def of(cls, folder: FolderEntry, links: Links) -> FolderLink:
        return cls(
            href=links.output(folder.path),
            web_url=web_folder(links, folder.path),
            run=FolderRun.of(folder.run, links) if folder.run is not None else None,
        )


class FileEntry(BaseModel):
    href: str = Field(description="Presigned download URL")
    size: int
    last_modified: Timestamp
    properties: dict[str, str]
    properties_etag: str | None = Field(
        description=(
            "ETag of the file's metadata sidecar (null: it has none): send it back as `etag` "
            "(or `If-Match`) to change the properties only if no one changed them meanwhile"
        )
    )

    @classmethod
    def of(cls, file: OutputFile) -> FileEntry:
        return cls(
            href=file.url,
            size=file.size,
            last_modified=file.last_modified,
            properties=file.properties,
            properties_etag=file.properties_etag,
        )


class Folder(BaseModel):
    """One page of a folder of the caller's staging area."""

    prefix: str
    folders: dict[str, FolderLink]
    files: dict[str, FileEntry]
    next: str | SkipJsonSchema[None] = optional("Link to the next page (until the last page)")
    web_url: str | SkipJsonSchema[None] = optional(
        "The web app's page of the folder (when served here)"
    )


class FileAnnotation(BaseModel):
    """A file's new properties; with ``etag``, only if its sidecar is still that one (null:
    only if it has none yet). Build it without ``etag`` for an unconditional write, and send
    it with ``model_dump(exclude_unset=True)``."""

    model_config = ConfigDict(extra="forbid")

    properties: dict[str, str]
    etag: str | None = Field(
        None,
        description=(
            "The `properties_etag` the properties were read with: the write happens only if "
            "it is still the current one (412 otherwise); left out, the write is unconditional"
        ),
    )

    @property
    def conditional(self) -> bool:
        return "etag" in self.model_fields_set


class Annotation(BaseModel):
    """New metadata properties of files of one folder (each file's set replaces its old one)."""

    model_config = ConfigDict(extra="forbid")

    files: dict[str, FileAnnotation] = Field(min_length=1, max_length=1000)


class Updated(BaseModel):
    updated: list[str]
