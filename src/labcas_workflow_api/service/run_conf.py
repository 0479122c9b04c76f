"""What a run's conf is made of: the request that starts a run (parsed and checked against
the workflow's parameters), the keys the server sets, and what clients see of a conf."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labcas_workflow_api.domain.errors import BadRequest, InvalidParameters
from labcas_workflow_api.domain.json_body import parse_json
from labcas_workflow_api.domain.models import Parameter, Run, Workflow

RESERVED_KEYS = frozenset({"in_bucket", "in_prefix", "out_bucket", "out_prefix", "username"})
#: Where a run's conf keeps the tags a WES client gave it (``RunRequest.tags``).
TAGS_KEY = "wes_tags"
_ENVELOPE_KEYS = frozenset({"in_data_selection", "workflow_id", "params"})


def run_id_prefix(username: str) -> str:
    """Every run started for ``username`` has an id starting with this."""
    return f"labcas__{username}__"


def public_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """The conf shown to clients: without the keys the server sets."""
    return {k: v for k, v in conf.items() if k not in RESERVED_KEYS}


def output_path(run: Run) -> str | None:
    """The run's folder relative to its owner's output area, e.g. ``20261128T101010000000/``."""
    prefix, owner = run.conf.get("out_prefix"), run.conf.get("username")
    if not (isinstance(prefix, str) and isinstance(owner, str) and prefix.startswith(owner + "/")):
        return None
    return prefix[len(owner) + 1 :].strip("/") + "/"


@dataclass(frozen=True)
class RunRequest:
    """A validated request to start a run; ``tags``: a WES client's, kept in the conf under
    ``TAGS_KEY`` (a key no workflow parameter may take: ``validate_params`` refuses it)."""

    data_selection: str
    params: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The part of a run's conf that comes from the request (what ``public_conf`` shows)."""
        tagged = {TAGS_KEY: self.tags} if self.tags else {}
        return {**self.params, **tagged, "in_data_selection": self.data_selection}


def parse_run_request(body: bytes, workflow_id: str) -> RunRequest:
    """Parse a POST body (top-level params, or under ``params``); BadRequest on any misuse."""
    document = parse_json(body)
    if not isinstance(document, dict):
        raise BadRequest("request body must be a JSON object")
    if "workflow_id" in document and document["workflow_id"] != workflow_id:
        raise BadRequest(f"workflow_id {document['workflow_id']!r} does not match the URL")
    selection = document.get("in_data_selection")
    if selection is None:
        raise BadRequest("missing field: in_data_selection")
    if not isinstance(selection, str) or not selection:
        raise BadRequest("in_data_selection must be a non-empty string")
    nested = document.get("params", {})
    if not isinstance(nested, dict):
        raise BadRequest("params must be a JSON object")
    params = {k: v for k, v in document.items() if k not in _ENVELOPE_KEYS}
    overlap = set(params) & set(nested)
    if overlap:
        raise BadRequest(f"parameter {sorted(overlap)[0]!r} given twice")
    params.update(nested)
    reserved = sorted(RESERVED_KEYS & set(params))
    if reserved:
        raise BadRequest(f"{reserved[0]!r} is set by the server and may not be supplied")
    if "in_data_selection" in nested:
        raise BadRequest("in_data_selection goes at the top level, not under params")
    return RunRequest(selection, params)


def validate_params(workflow: Workflow, params: dict[str, Any]) -> None:
    """InvalidParameters naming the first parameter that fails the workflow's param schema."""
    import jsonschema  # here, not at the top: ~50 ms off every Lambda cold start (bench/)

    for name in sorted(params):
        if name not in workflow.parameters:
            raise InvalidParameters(f"unknown parameter {name!r}", parameter=name)
        schema = workflow.parameters[name].schema
        try:
            jsonschema.validate(params[name], schema)
        except jsonschema.ValidationError as exc:
            raise InvalidParameters(f"parameter {name!r}: {exc.message}", parameter=name) from None
        except jsonschema.SchemaError:
            continue
    for name, parameter in workflow.parameters.items():
        if name not in params and requires_value(parameter):
            raise InvalidParameters(f"parameter {name!r} is required", parameter=name)


def requires_value(parameter: Parameter) -> bool:
    """Whether a run must give this parameter: no default, and its schema refuses null."""
    kind = parameter.schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    return parameter.default is None and kind is not None and "null" not in kinds
