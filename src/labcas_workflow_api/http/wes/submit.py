"""A WES run request (a form or JSON) read into what ``POST /workflows/{id}/runs`` takes, its
``workflow_params`` by the same strict code (``run_conf.parse_run_request``).

Refused (400, naming the field): an uploaded ``workflow_attachment`` (uploaded code never runs
here), non-empty ``workflow_engine_parameters``, a workflow type or engine not offered, and any
field given twice."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from labcas_workflow_api.domain.errors import BadRequest
from labcas_workflow_api.domain.json_body import parse_json
from labcas_workflow_api.domain.models import EngineVersion
from labcas_workflow_api.http.wes import ids
from labcas_workflow_api.service.run_conf import RunRequest, parse_run_request
from labcas_workflow_api.wire.wes import WesRunRequest

#: The one workflow type: curated Airflow DAGs, written for these Airflow major versions.
WORKFLOW_TYPE = "AIRFLOW_DAG"
WORKFLOW_TYPE_VERSIONS = ["3", "2"]
FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
_FIELDS = set(WesRunRequest.model_fields) | {"workflow_attachment"}
ATTACHMENT_REFUSED = (
    "workflow_attachment is refused: uploaded code never runs here; name a curated workflow "
    "in workflow_url (its id, or its /workflows/{id} URL on this API)"
)


@dataclass(frozen=True)
class Submission:
    """A checked WES run request: the workflow and the request to start it with."""

    workflow_id: str
    request: RunRequest
    workflow_engine: str | None = None
    workflow_engine_version: str | None = None

    def check_engine(self, engine: EngineVersion) -> None:
        """BadRequest when the submission names another engine, or another version of it."""
        if self.workflow_engine not in (None, engine.name):
            raise BadRequest(f"workflow_engine must be {engine.name!r} (see service-info)")
        if self.workflow_engine_version not in (None, engine.version):
            wanted = f"workflow_engine_version must be {engine.version!r} (see service-info)"
            raise BadRequest(wanted)


async def read_submission(request: Request, body: bytes, api_base: str) -> Submission:
    """The submission in ``body`` (already read, size-bounded); BadRequest naming the problem.
    ``api_base``: the API's base URL, which a ``workflow_url`` may start with."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in FORMS:
        fields = await _form_fields(request, body)
    elif media in ("application/json", ""):
        fields = _json_fields(body)
    else:
        raise BadRequest(f"a run request is {', '.join(FORMS)} or application/json, not {media}")
    try:
        wes = WesRunRequest.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"] if "[" not in str(p))  # not union tags
        raise BadRequest(f"{where}: {error['msg']}") from None
    if wes.workflow_engine_parameters:
        raise BadRequest("workflow_engine_parameters are refused: this service takes none")
    if wes.workflow_type != WORKFLOW_TYPE:
        raise BadRequest(f"workflow_type must be {WORKFLOW_TYPE!r} (see service-info)")
    if wes.workflow_type_version not in WORKFLOW_TYPE_VERSIONS:
        versions = ", ".join(WORKFLOW_TYPE_VERSIONS)
        raise BadRequest(f"workflow_type_version must be one of {versions} (see service-info)")
    workflow_id = workflow_of(wes.workflow_url, api_base)
    params = json.dumps(wes.workflow_params or {}).encode()
    run_request = parse_run_request(params, workflow_id)
    tagged = RunRequest(run_request.data_selection, run_request.params, dict(wes.tags or {}))
    return Submission(workflow_id, tagged, wes.workflow_engine, wes.workflow_engine_version)


def workflow_of(url: str, api_base: str) -> str:
    """The curated workflow a ``workflow_url`` names: its id, or ``<api_base>/workflows/<id>``."""
    prefix = api_base.rstrip("/") + "/workflows/"
    candidate = unquote(url[len(prefix) :]) if url.startswith(prefix) else url
    if not ids.NAME.fullmatch(candidate):
        raise BadRequest(
            f"workflow_url must name a curated workflow: its id, or {prefix}{{id}}; "
            "uploaded or remote workflow files never run here"
        )
    return candidate


async def _form_fields(request: Request, body: bytes) -> dict[str, Any]:
    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form()
    try:
        if "workflow_attachment" in form or any(isinstance(v, UploadFile) for _, v in form.items()):
            raise BadRequest(ATTACHMENT_REFUSED)
        fields: dict[str, Any] = {}
        for name, value in form.multi_items():
            if name not in _FIELDS:
                raise BadRequest(f"unknown field {name!r}")
            if name in fields:
                raise BadRequest(f"field {name!r} given twice")
            fields[name] = value
    finally:
        await form.close()
    for name in ("workflow_params", "tags", "workflow_engine_parameters"):
        text = fields.get(name)
        if isinstance(text, str):
            fields[name] = _json_object(name, text) if text.strip() else None
    return fields


def _json_fields(body: bytes) -> dict[str, Any]:
    document = parse_json(body)
    if not isinstance(document, dict):
        raise BadRequest("request body must be a JSON object")
    if "workflow_attachment" in document:
        raise BadRequest(ATTACHMENT_REFUSED)
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}")
    return document


def _json_object(name: str, text: str) -> Any:
    try:
        document = parse_json(text.encode("utf-8", "surrogatepass"))
    except BadRequest as exc:
        raise BadRequest(f"{name}: {exc.detail}") from None
    if not isinstance(document, dict):
        raise BadRequest(f"{name} must be a JSON object")
    return document
