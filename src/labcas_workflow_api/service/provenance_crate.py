"""A run's provenance (``provenance.RunRecord``) as an RO-Crate 1.1 following the Workflow Run
Crate profile 0.5 (docs/provenance.rst), built with the ``rocrate`` library."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from labcas_workflow_api.domain.models import Parameter, RunStatus
from labcas_workflow_api.service.provenance import (
    MAX_FILES,
    MAX_PROPERTY_BYTES,
    OutputFile,
    RunRecord,
    media_type,
    run_path,
    workflow_path,
)
from labcas_workflow_api.service.run_conf import public_conf, requires_value

if TYPE_CHECKING:
    from rocrate.model.entity import Entity
    from rocrate.rocrate import ROCrate

#: The largest JSON answer: a Lambda answer is at most 6 MB, and JSON adds no encoding.
MAX_JSON_BYTES = 4 * 1024 * 1024
RO_CRATE_VERSION = "1.1"
PROFILES = (
    ("https://w3id.org/ro/wfrun/process/0.5", "Process Run Crate", "0.5"),
    ("https://w3id.org/ro/wfrun/workflow/0.5", "Workflow Run Crate", "0.5"),
    ("https://w3id.org/workflowhub/workflow-ro-crate/1.0", "Workflow RO-Crate", "1.0"),
)
SCHEMA = "http://schema.org/"
LICENSE_ID = "#labcas-terms"
LANGUAGE_ID = "#apache-airflow-dag"
#: JSON Schema types as the DataType (or PropertyValue, for objects) of a FormalParameter.
DATA_TYPES = {
    "integer": "Integer",
    "number": "Float",
    "string": "Text",
    "boolean": "Boolean",
    "object": "PropertyValue",
}
SELECTION_SLOT = "in_data_selection"


def action_status(status: RunStatus) -> str:
    """The schema.org ``ActionStatusType`` of a run: Potential while queued, Active while
    running, Completed for a success; any other end (failed, or stopped before it completed,
    as a cancelled run is) is Failed."""
    names = {
        RunStatus.QUEUED: "Potential",
        RunStatus.RUNNING: "Active",
        RunStatus.SUCCESS: "Completed",
    }
    return f"{SCHEMA}{names.get(status, 'Failed')}ActionStatus"


def user_id(username: str) -> str:
    """The ``@id`` of a LabCAS user: a URN of their user id (the same in every crate)."""
    return "urn:labcas:user:" + quote(username, safe="")


def metadata(record: RunRecord, base: str, *, max_bytes: int = MAX_JSON_BYTES) -> bytes:
    """``ro-crate-metadata.json`` of the run, at most ``max_bytes``: the first output files
    only when all of them would not fit, with a note naming the zip, which lists them all."""
    files = record.outputs.files
    shown = _fitting(files, max_bytes)
    while True:
        crate = _crate(record, base, shown)
        body = json.dumps(crate.metadata.generate(), ensure_ascii=False).encode()
        if len(body) <= max_bytes or not shown:
            return body
        shown = shown[: len(shown) * 3 // 4]


def zipped(record: RunRecord, base: str) -> bytes:
    """The whole crate as a zip: the metadata listing every output file, its HTML preview,
    and the DAG file when the engine gave its source."""
    from rocrate.model.preview import Preview

    crate = _crate(record, base, record.outputs.files)
    crate.add(Preview(crate))
    return b"".join(crate.stream_zip())


def _fitting(files: list[OutputFile], max_bytes: int) -> list[OutputFile]:
    """The first files whose entities fit, by a generous estimate, in ``max_bytes`` with room
    for the rest of the crate."""
    budget = max_bytes - 256 * 1024
    for i, file in enumerate(files):
        budget -= (
            600
            + 3 * len(file.uri.encode())
            + sum(250 + 2 * len(f"{k}{v}".encode()) for k, v in file.properties.items())
        )
        if budget < 0:
            return files[:i]
    return files


def _crate(record: RunRecord, base: str, files: list[OutputFile]) -> ROCrate:
    from rocrate.model.computerlanguage import ComputerLanguage
    from rocrate.model.contextentity import ContextEntity
    from rocrate.model.person import Person
    from rocrate.model.softwareapplication import SoftwareApplication
    from rocrate.rocrate import ROCrate

    facts = record.facts
    run, workflow, version = facts.run, facts.workflow, facts.version
    run_url = base + run_path(workflow.id, run.run_id)
    crate = ROCrate(version=RO_CRATE_VERSION)

    def entity(identifier: str, properties: dict[str, Any]) -> Entity:
        added: Entity = crate.add(ContextEntity(crate, identifier, properties=properties))
        return added

    for identifier, name, profile_version in PROFILES:
        profile = {"@type": "CreativeWork", "name": name, "version": profile_version}
        crate.root_dataset.append_to("conformsTo", entity(identifier, profile))

    language = crate.add(
        ComputerLanguage(
            crate,
            LANGUAGE_ID,
            properties={
                "name": "Apache Airflow DAG (Python)",
                "url": {"@id": "https://airflow.apache.org/docs/"},
            },
        )
    )
    main = _workflow_entity(crate, record, base, language, entity)
    for name, parameter in workflow.parameters.items():
        main.append_to("input", formal_parameter(crate, name, parameter))
    slot = crate.add_formal_parameter(
        SELECTION_SLOT,
        "Dataset",
        identifier=parameter_id(SELECTION_SLOT),
        description="The LabCAS data selection the run reads",
        valueRequired=True,
    )
    main.append_to("input", slot)

    engine = crate.add(
        SoftwareApplication(
            crate,
            facts.engine.url or "#engine",
            properties={"name": facts.engine.name, "softwareVersion": facts.engine.version},
        )
    )
    if facts.engine.url:
        engine["url"] = facts.engine.url
    person = crate.add(Person(crate, user_id(facts.username), properties={"name": facts.username}))
    person["identifier"] = facts.username

    objects: list[Entity] = []
    if facts.data is not None:
        data = crate.add_dataset(
            facts.data.uri,
            properties={
                "name": facts.data.id,
                "identifier": facts.data.id,
                "description": facts.data.description or f"LabCAS data selection {facts.data.id}",
                "exampleOfWork": {"@id": slot.id},
            },
        )
        slot["workExample"] = data
        objects.append(data)
    objects += parameter_values(crate, record, entity)

    results = [_output_entity(crate, file, entity) for file in files]
    listed = _listing_note(record, len(files), base)
    action = crate.add_action(
        main,
        run_url,
        object=objects or None,
        result=results or None,
        properties={
            "@type": "CreateAction",
            "name": f"Run {run.run_id} of workflow {workflow.id}",
            "description": f"A LabCAS run of {workflow.id}, status {run.status.value}. {listed}",
            "actionStatus": {"@id": action_status(run.status)},
            "agent": {"@id": person.id},
        },
    )
    _times(action, run.start_time, run.end_time)
    if run.status.finished and run.status is not RunStatus.SUCCESS:
        action["error"] = f"The run ended {run.status.value}: its tasks and logs are at {run_url}"
    organize = crate.add_action(
        engine,
        run_url + "#engine",
        result=[action],
        properties={
            "@type": "OrganizeAction",
            "name": f"{facts.engine.name} {facts.engine.version} ran {run.run_id}",
            "agent": {"@id": person.id},
        },
    )
    _times(organize, run.start_time, run.end_time)
    crate.root_dataset.append_to("mentions", action)
    crate.root_dataset.append_to("mentions", organize)

    crate.name = f"Provenance of LabCAS run {run.run_id}"
    crate.description = (
        f"What LabCAS user {facts.username} ran: workflow {workflow.id}"
        f"{' version ' + version.version if version.version else ''} on "
        f"{facts.engine.name} {facts.engine.version}, on data selection "
        f"{facts.data.id if facts.data else '(unknown)'}, status {run.status.value}. {listed}"
    )
    crate.datePublished = record.gathered.isoformat()
    crate.license = entity(
        LICENSE_ID,
        {
            "@type": "CreativeWork",
            "name": "LabCAS terms of use",
            "description": (
                "Not licensed for redistribution: the data belong to their LabCAS owners. "
                "Set a license before publishing this record."
            ),
        },
    )
    crate.publisher = entity(base + "/", {"@type": "Organization", "name": "LabCAS Workflow API"})
    return crate


def _workflow_entity(
    crate: ROCrate, record: RunRecord, base: str, language: Entity, entity: Any
) -> Entity:
    """The main workflow: the DAG file (its source in the crate when the engine gave it)."""
    facts = record.facts
    version, workflow = facts.version, facts.workflow
    url = base + workflow_path(workflow.id)
    if version.source is not None:
        name = version.file_name or f"{workflow.id}.py"
        main: Entity = crate.add_workflow(
            io.BytesIO(version.source.encode()), name, main=True, lang=language
        )
    else:
        main = crate.add_workflow(url, main=True, lang=language)
    main["name"] = workflow.id
    main["url"] = url
    if workflow.description:
        main["description"] = workflow.description
    if version.version is not None:
        main["version"] = version.version
    identifiers = {
        "sha256": version.source_sha256,
        "airflow_bundle": version.bundle_name,
        "airflow_bundle_version": version.bundle_version,
        "airflow_file_token": version.source_token,
    }
    for kind, value in identifiers.items():
        if value:
            identifier = {"@type": "PropertyValue", "propertyID": kind, "value": value}
            main.append_to("identifier", entity(f"#workflow-{kind}", identifier))
    if not version.of_run:
        main["creativeWorkStatus"] = (
            "The engine keeps no per-run version: this is the workflow as it was when the "
            "record was made"
        )
    return main


def _output_entity(crate: ROCrate, file: OutputFile, entity: Any) -> Entity:
    added: Entity = crate.add_file(
        file.uri,
        properties={
            "name": file.path,
            "contentSize": str(file.size),
            "encodingFormat": media_type(file.path),
            "dateModified": file.last_modified.isoformat(),
        },
    )
    if file.etag:
        etag = {"@type": "PropertyValue", "propertyID": "ETag", "value": file.etag}
        added["identifier"] = entity("#etag-" + quote(file.key), etag)
    for key, value in sorted(file.properties.items()):
        pv = {"@type": "PropertyValue", "name": key, "value": value}
        added.append_to("additionalProperty", entity(f"#property-{quote(file.key)}-{key}", pv))
    return added


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


def _times(action: Entity, start: datetime | None, end: datetime | None) -> None:
    if start is not None:
        action["startTime"] = start.isoformat()
    if end is not None:
        action["endTime"] = end.isoformat()


def _listing_note(record: RunRecord, shown: int, base: str) -> str:
    """What the crate says of how many output files it lists."""
    outputs, total = record.outputs, len(record.outputs.files)
    if outputs.path is None:
        return "The run has no output folder."
    where = f"{outputs.uri} (browse it at {base}/output-data/{outputs.path})"
    if not outputs.complete:
        note = (
            f"Its output folder {where} holds more than {MAX_FILES:,} files: the first "
            f"{shown:,} are listed."
        )
    elif shown < total:
        note = (
            f"{shown:,} of its {total:,} output files are listed here (JSON answers are "
            "capped); the zip of this record (format=zip) lists all of them."
        )
    else:
        note = f"All {total:,} output files of {where} are listed."
    if outputs.properties_complete:
        return note
    return (
        f"{note} Metadata properties are given for the first files only (their sidecars are "
        f"read up to {MAX_PROPERTY_BYTES // (1024 * 1024)} MiB)."
    )
