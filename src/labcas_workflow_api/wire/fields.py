"""What the wire models share: the time type, the "left out when None" field, the links of
the request being answered, and a run's fields."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import Field, PlainSerializer, WithJsonSchema

from labcas_workflow_api.service.run_conf import output_path, public_conf

if TYPE_CHECKING:
    from labcas_workflow_api.domain.models import Run


def _is_none(value: object) -> bool:
    return value is None


def optional(description: str | None = None) -> Any:
    """A field that is left out of an answer when None (typed ``X | SkipJsonSchema[None]``)."""
    return Field(None, exclude_if=_is_none, description=description)


Timestamp = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Links(Protocol):
    """Absolute links for the request being answered (``http.deps.Links``)."""

    def output(self, relative: str) -> str: ...

    def run(self, workflow_id: str, run_id: str) -> str: ...

    def web(self, *route: str) -> str | None: ...


def run_fields(run: Run, links: Links) -> dict[str, Any]:
    """A run's fields on the wire; each model of a run takes those it declares (pydantic
    ignores the others)."""
    folder = output_path(run)
    return {
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "output_url": links.output(folder) if folder else None,
        "output_folder": folder,
        "web_url": links.web("run", run.workflow_id, run.run_id),
        "conf": public_conf(run.conf),
    }
