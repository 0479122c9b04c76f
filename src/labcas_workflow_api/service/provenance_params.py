"""The parameters of a run in its RO-Crate: each DAG param a ``FormalParameter`` of the
workflow, each value the run had a ``PropertyValue`` that is an example of it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from labcas_workflow_api.domain.models import Parameter
from labcas_workflow_api.service.provenance import RunRecord
from labcas_workflow_api.service.run_conf import public_conf, requires_value

if TYPE_CHECKING:
    from rocrate.model.entity import Entity
    from rocrate.rocrate import ROCrate

#: JSON Schema types as the DataType (or PropertyValue, for objects) of a FormalParameter.
DATA_TYPES = {
    "integer": "Integer",
    "number": "Float",
    "string": "Text",
    "boolean": "Boolean",
    "object": "PropertyValue",
}
SELECTION_SLOT = "in_data_selection"


def parameter_id(name: str) -> str:
    return "#param-" + quote(name, safe="")


def formal_parameter(crate: ROCrate, name: str, parameter: Parameter) -> Entity:
    kind = parameter.schema.get("type")
    kinds = [k for k in (kind if isinstance(kind, list) else [kind]) if k != "null"]
    first = kinds[0] if kinds else None
    properties: dict[str, Any] = {}
    if first == "array":
        items = parameter.schema.get("items")
        item_kind = items.get("type") if isinstance(items, dict) else None
        first = item_kind if isinstance(item_kind, str) else None
        properties["multipleValues"] = True
    formal: Entity = crate.add_formal_parameter(
        name,
        DATA_TYPES.get(first, "DataType") if isinstance(first, str) else "DataType",
        identifier=parameter_id(name),
        description=parameter.description,
        valueRequired=requires_value(parameter),
        properties=properties,
    )
    if parameter.default is not None:
        formal["defaultValue"] = literal(parameter.default)
    return formal


def parameter_values(crate: ROCrate, record: RunRecord, entity: Any) -> list[Entity]:
    """One ``PropertyValue`` per parameter the run had: given at its start, or the default."""
    given = {k: v for k, v in public_conf(record.facts.run.conf).items() if k != SELECTION_SLOT}
    values = []
    parameters = record.facts.workflow.parameters
    for name in sorted({*given, *parameters}):
        if name in given:
            value, how = given[name], "given when the run started"
        elif parameters[name].default is not None:
            value, how = parameters[name].default, "the workflow's default"
        else:
            continue
        properties: dict[str, Any] = {
            "@type": "PropertyValue",
            "name": name,
            "value": literal(value),
            "description": how,
        }
        if name in parameters:
            properties["exampleOfWork"] = {"@id": parameter_id(name)}
        pv = entity("#value-" + quote(name, safe=""), properties)
        if name in parameters:
            crate.get(parameter_id(name)).append_to("workExample", pv)
        values.append(pv)
    return values


def literal(value: Any) -> Any:
    """A JSON-LD literal: strings, numbers and booleans as they are, anything else as JSON."""
    if isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True)
