"""The API reference, rendered from ``docs/openapi.yml`` while the site builds.

``.. openapi-reference:: ../openapi.yml`` renders every operation (grouped by tag): summary,
description, authentication, parameters, request body, every response with its headers and
schema, and JSON examples (taken from the spec, or generated from the schema and marked so),
then every component schema. Each operation gets the label ``api-<operationId>`` and each
schema ``api-schema-<name>``. Vendor extensions (``x-*``, e.g. API Gateway integrations) are
not part of the reference and are skipped; ``OPTIONS`` operations (CORS preflight mocks) are
summarized in one line.

``.. labcas-errors::`` renders the error table from the service's error tree.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from labcas_rst import block, inline
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_MAX_DEPTH = 6


def _label(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _indent(lines: list[str], by: int = 3) -> list[str]:
    pad = " " * by
    return [pad + line if line else "" for line in lines]


def _code_block(language: str, text: str) -> list[str]:
    return [f".. code-block:: {language}", "", *_indent(text.splitlines()), ""]


class Spec:
    """The OpenAPI document with ``$ref`` resolution and reST rendering helpers."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.doc = document
        self.schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})

    def resolve(self, item: Any) -> Any:
        seen = 0
        while isinstance(item, dict) and "$ref" in item:
            ref = item["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise ExtensionError(f"openapi: unsupported $ref {ref!r}")
            target: Any = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise ExtensionError(f"openapi: $ref {ref!r} points nowhere")
                target = target[part]
            item = target
            seen += 1
            if seen > 20:
                raise ExtensionError(f"openapi: $ref loop at {ref!r}")
        return item

    # -- types -------------------------------------------------------------------------

    def type_text(self, schema: Any, depth: int = 0) -> str:
        """A one-line reST description of a schema's type and constraints."""
        if not isinstance(schema, dict) or not schema:
            return "any"
        if "$ref" in schema:
            name = str(schema["$ref"]).rsplit("/", 1)[-1]
            if str(schema["$ref"]).startswith("#/components/schemas/"):
                return f":ref:`{name} <api-schema-{_label(name)}>`"
            return self.type_text(self.resolve(schema), depth)
        if depth > _MAX_DEPTH:
            return "…"
        for key, word in (("allOf", " and "), ("oneOf", " or "), ("anyOf", " or ")):
            if key in schema:
                return word.join(self.type_text(s, depth + 1) for s in schema[key])
        kind = schema.get("type")
        if kind == "array":
            text = f"array of {self.type_text(schema.get('items', {}), depth + 1)}"
        elif kind == "object" or "properties" in schema or "additionalProperties" in schema:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra and not schema.get("properties"):
                text = f"object of name → {self.type_text(extra, depth + 1)}"
            else:
                text = "object"
        elif kind:
            text = str(kind)
            if schema.get("format"):
                text += f" ({schema['format']})"
        else:
            text = "any"
        facts = []
        if "enum" in schema:
            facts.append("one of " + ", ".join(f"``{json.dumps(v)}``" for v in schema["enum"]))
        for key, word in (
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("minItems", "min items"),
            ("maxItems", "max items"),
            ("minProperties", "min entries"),
        ):
            if key in schema:
                facts.append(f"{word} {schema[key]}")
        if "pattern" in schema:
            facts.append(f"pattern ``{schema['pattern']}``")
        if "default" in schema:
            facts.append(f"default ``{json.dumps(schema['default'])}``")
        if schema.get("nullable"):
            facts.append("nullable")
        return text + (f" ({'; '.join(facts)})" if facts else "")

    def properties(self, schema: Any) -> tuple[dict[str, Any], set[str]]:
        """Properties and required names of an object schema (``allOf`` merged)."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return {}, set()
        props: dict[str, Any] = dict(schema.get("properties", {}))
        required = set(schema.get("required", []))
        for part in schema.get("allOf", []):
            more, needed = self.properties(part)
            props.update(more)
            required |= needed
        return props, required

    def property_list(self, schema: Any, depth: int = 0) -> list[str]:
        """A nested bullet list of an inline object schema's properties."""
        props, required = self.properties(schema)
        lines: list[str] = []
        for name, prop in props.items():
            text = f"- ``{name}``: {self.type_text(prop)}"
            if name in required:
                text += ", required"
            desc = self.resolve(prop).get("description") if isinstance(prop, dict) else None
            if desc and "$ref" not in prop:
                text += f" — {inline(' '.join(str(desc).split()))}"
            lines.append(text)
            inner = self.resolve(prop)
            if (
                depth < 2
                and "$ref" not in prop
                and isinstance(inner, dict)
                and inner.get("properties")
            ):
                lines += ["", *_indent(self.property_list(inner, depth + 1), 2), ""]
        return lines

    # -- examples ----------------------------------------------------------------------

    def example(self, schema: Any, depth: int = 0) -> Any:
        """A plausible value for a schema: its example, default or enum, else by type."""
        if depth > _MAX_DEPTH:
            return None
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return None
        for key in ("example", "default"):
            if key in schema:
                return schema[key]
        if schema.get("enum"):
            return schema["enum"][0]
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                value = self.example(part, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
            return merged
        for key in ("oneOf", "anyOf"):
            if schema.get(key):
                return self.example(schema[key][0], depth + 1)
        kind = schema.get("type")
        if kind == "array":
            return [self.example(schema.get("items", {}), depth + 1)]
        if kind == "object" or "properties" in schema:
            value = {
                name: self.example(prop, depth + 1)
                for name, prop in schema.get("properties", {}).items()
            }
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra and not value:
                value = {"name": self.example(extra, depth + 1)}
            return value
        fmt = schema.get("format")
        if kind == "string":
            return {
                "date-time": "2026-11-28T10:10:10.123456+00:00",
                "uri": "https://example.org/",
            }.get(str(fmt), "string")
        if kind == "integer":
            return int(schema.get("minimum", 0))
        if kind == "number":
            return float(schema.get("minimum", 0))
        if kind == "boolean":
            return False
        return None

    def media_example(self, media: dict[str, Any]) -> tuple[Any, bool] | None:
        """(example, generated) for a media type object, or None for non-JSON bodies."""
        if "example" in media:
            return media["example"], False
        examples = media.get("examples")
        if isinstance(examples, dict) and examples:
            first = self.resolve(next(iter(examples.values())))
            if isinstance(first, dict) and "value" in first:
                return first["value"], False
        schema = self.resolve(media.get("schema", {}))
        if isinstance(schema, dict) and "example" in schema:
            return schema["example"], False
        if isinstance(schema, dict) and schema.get("type") == "string":
            return None
        return self.example(media.get("schema", {})), True


class OpenAPIReference(SphinxDirective):
    required_arguments = 1
    option_spec = {"levels": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        path = Path(self.env.srcdir) / Path(self.env.docname).parent / self.arguments[0]
        path = path.resolve()
        if not path.is_file():
            raise self.error(f"openapi-reference: no such file {path}")
        self.env.note_dependency(str(path))
        try:
            document = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ExtensionError(f"{path}: not valid YAML: {exc}") from None
        self.spec = Spec(document)
        self.h1, self.h2 = (self.options.get("levels") or "-~")[:2]
        lines = self.render()
        container = nodes.container(classes=["openapi-reference"])
        nested_parse_with_titles(self.state, StringList(lines, source=str(path)), container)
        return container.children

    # -- structure ---------------------------------------------------------------------

    def _title(self, text: str, char: str, label: str) -> list[str]:
        return [f".. _{label}:", "", text, char * max(len(text), 4), ""]

    def render(self) -> list[str]:
        doc = self.spec.doc
        lines: list[str] = []
        info = doc.get("info", {})
        lines += [f"*{inline(info.get('title', 'API'))}*, version ``{info.get('version', '?')}``"]
        lines += ["", "(OpenAPI ``" + str(doc.get("openapi", "?")) + "``.)", ""]
        lines += block(info.get("description", ""))
        lines += self.render_servers_and_security()
        groups = self.operations_by_tag()
        for tag, operations in groups.items():
            lines += self._title(tag.capitalize(), self.h1, f"api-tag-{_label(tag)}")
            tag_doc = next((t for t in doc.get("tags", []) if t.get("name") == tag), {})
            lines += block(tag_doc.get("description", ""))
            for path, method, operation, shared in operations:
                lines += self.render_operation(path, method, operation, shared)
        lines += self.render_preflight()
        lines += self._title("Schemas", self.h1, "api-schemas")
        lines += ["The objects named in the operations above.", ""]
        for name, schema in self.spec.schemas.items():
            lines += self.render_schema(name, schema)
        return lines

    def operations_by_tag(self) -> dict[str, list[tuple[str, str, dict[str, Any], list[Any]]]]:
        order = [t["name"] for t in self.spec.doc.get("tags", []) if "name" in t]
        groups: dict[str, list[tuple[str, str, dict[str, Any], list[Any]]]] = {
            name: [] for name in order
        }
        for path, item in (self.spec.doc.get("paths") or {}).items():
            item = self.spec.resolve(item)
            shared = item.get("parameters", [])
            for method in METHODS:
                if method == "options" or method not in item:
                    continue
                operation = item[method]
                tag = (operation.get("tags") or ["other"])[0]
                groups.setdefault(tag, []).append((path, method, operation, shared))
        return {tag: ops for tag, ops in groups.items() if ops}

    def render_servers_and_security(self) -> list[str]:
        doc = self.spec.doc
        lines: list[str] = []
        servers = doc.get("servers") or []
        if servers:
            lines += ["**Servers**", ""]
            for server in servers:
                desc = server.get("description")
                lines.append(f"- ``{server.get('url')}``" + (f" — {inline(desc)}" if desc else ""))
            lines.append("")
        schemes = doc.get("components", {}).get("securitySchemes", {})
        if schemes:
            lines += ["**Authentication**", ""]
            for name, scheme in schemes.items():
                scheme = self.spec.resolve(scheme)
                kind = scheme.get("scheme") or scheme.get("type")
                where = f"``{scheme.get('name')}`` {scheme.get('in')}" if scheme.get("in") else ""
                text = f"- ``{name}``: {kind} {where}".rstrip()
                if scheme.get("bearerFormat"):
                    text += f" ({scheme['bearerFormat']})"
                if scheme.get("description"):
                    text += f" — {inline(' '.join(scheme['description'].split()))}"
                lines.append(text)
            lines += ["", "Operations need it unless they say *no authentication*.", ""]
        return lines

    def render_preflight(self) -> list[str]:
        paths = self.spec.doc.get("paths") or {}
        with_options = [p for p, item in paths.items() if "options" in self.spec.resolve(item)]
        lines = self._title("CORS preflight", self.h1, "api-cors-preflight")
        lines += [
            "Every path also answers ``OPTIONS`` (no authentication) with the allowed methods "
            "and, for an allowed ``Origin``, the ``Access-Control-Allow-*`` headers. "
            "Every response, errors included, carries the CORS headers for allowed origins.",
            "",
        ]
        if with_options:
            lines += ["The spec describes ``OPTIONS`` explicitly on: "]
            lines[-1] += ", ".join(f"``{p}``" for p in with_options) + "."
            lines.append("")
        return lines

    # -- operations --------------------------------------------------------------------

    def render_operation(
        self, path: str, method: str, operation: dict[str, Any], shared: list[Any]
    ) -> list[str]:
        op_id = operation.get("operationId") or f"{method}-{path}"
        title = f"{method.upper()} {path}"
        lines = self._title(title, self.h2, f"api-{_label(op_id)}")
        if operation.get("summary"):
            lines += [f"**{inline(operation['summary'])}**", ""]
        if operation.get("deprecated"):
            lines += [".. warning:: Deprecated.", ""]
        lines += block(operation.get("description", ""))
        security = operation.get("security", self.spec.doc.get("security"))
        if security == []:
            lines += ["*No authentication.*", ""]
        elif security:
            names = ", ".join(f"``{name}``" for req in security for name in req)
            lines += [f"Authentication: {names}.", ""]
        lines += [f"Operation id: ``{op_id}``", ""]
        lines += self.render_parameters(shared, operation.get("parameters", []))
        if "requestBody" in operation:
            lines += self.render_request_body(self.spec.resolve(operation["requestBody"]))
        lines += self.render_responses(operation.get("responses", {}))
        return lines

    def render_parameters(self, shared: list[Any], own: list[Any]) -> list[str]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for param in [*shared, *own]:
            param = self.spec.resolve(param)
            merged[(param.get("name", "?"), param.get("in", "?"))] = param
        if not merged:
            return []
        lines = [
            ".. rubric:: Parameters",
            "",
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 18 10 30 10 32",
            "   :class: api-table",
            "",
            "   * - Name",
            "     - In",
            "     - Type",
            "     - Required",
            "     - Description",
        ]
        for (name, where), param in merged.items():
            desc = inline(" ".join(str(param.get("description", "")).split()))
            example = param.get(
                "example", self.spec.resolve(param.get("schema", {})).get("example")
            )
            if example is not None:
                desc = (desc + " " if desc else "") + f"Example: ``{example}``"
            required = "yes" if param.get("required") or where == "path" else "no"
            lines += [
                f"   * - ``{name}``",
                f"     - {where}",
                f"     - {self.spec.type_text(param.get('schema', {}))}",
                f"     - {required}",
                f"     - {desc or '—'}",
            ]
        return [*lines, ""]

    def render_media(self, media_type: str, media: dict[str, Any]) -> list[str]:
        schema = media.get("schema", {})
        lines = [f"``{media_type}``: {self.spec.type_text(schema)}", ""]
        resolved = self.spec.resolve(schema)
        if "$ref" not in schema and isinstance(resolved, dict) and resolved.get("properties"):
            lines += [*self.spec.property_list(schema), ""]
        found = self.spec.media_example(media)
        if found is not None and "json" in media_type:
            value, generated = found
            lines += ["Example (generated from the schema):" if generated else "Example:", ""]
            lines += _code_block("json", json.dumps(value, indent=2, ensure_ascii=False))
        elif found is not None and not found[1]:
            lines += ["Example:", "", *_code_block("text", str(found[0]))]
        return lines

    def render_request_body(self, body: dict[str, Any]) -> list[str]:
        required = " (required)" if body.get("required") else " (optional)"
        lines = [f".. rubric:: Request body{required}", ""]
        lines += block(body.get("description", ""))
        for media_type, media in (body.get("content") or {}).items():
            lines += self.render_media(media_type, media or {})
        return lines

    def render_responses(self, responses: dict[str, Any]) -> list[str]:
        lines = [".. rubric:: Responses", ""]
        for code, response in responses.items():
            response = self.spec.resolve(response)
            code = str(code)
            try:
                phrase = HTTPStatus(int(code)).phrase
            except ValueError:
                phrase = ""
            lines += [f"``{code}`` {phrase}".rstrip()]
            body: list[str] = []
            body += block(" ".join(str(response.get("description", "")).split()))
            for name, header in (response.get("headers") or {}).items():
                header = self.spec.resolve(header)
                text = f"Header ``{name}``: {self.spec.type_text(header.get('schema', {}))}"
                if header.get("description"):
                    text += f" — {inline(' '.join(str(header['description']).split()))}"
                body += [text, ""]
            for media_type, media in (response.get("content") or {}).items():
                if media_type == "application/problem+json" and code[0] in "45":
                    body += [
                        f"``{media_type}``: {self.spec.type_text(media.get('schema', {}))} "
                        "(see :ref:`api-errors`)",
                        "",
                    ]
                    continue
                body += self.render_media(media_type, media or {})
            lines += _indent(body)
        return lines

    # -- schemas -----------------------------------------------------------------------

    def render_schema(self, name: str, schema: dict[str, Any]) -> list[str]:
        lines = self._title(name, self.h2, f"api-schema-{_label(name)}")
        lines += block(str(schema.get("description", "")))
        lines += [f"Type: {self.spec.type_text({**schema, 'description': None})}", ""]
        props, required = self.spec.properties(schema)
        if props:
            lines += [
                ".. list-table::",
                "   :header-rows: 1",
                "   :widths: 20 35 10 35",
                "   :class: api-table",
                "",
                "   * - Property",
                "     - Type",
                "     - Required",
                "     - Description",
            ]
            for prop_name, prop in props.items():
                resolved = self.spec.resolve(prop)
                desc = resolved.get("description") if "$ref" not in prop else None
                lines += [
                    f"   * - ``{prop_name}``",
                    f"     - {self.spec.type_text(prop)}",
                    f"     - {'yes' if prop_name in required else 'no'}",
                    f"     - {inline(' '.join(str(desc).split())) if desc else '—'}",
                ]
            lines.append("")
        value = self.spec.example(schema)
        if value is not None and (props or schema.get("type") in ("object", "array")):
            lines += ["Example (generated from the schema):", ""]
            lines += _code_block("json", json.dumps(value, indent=2, ensure_ascii=False))
        return lines


class ErrorTable(SphinxDirective):
    """The error tree of ``domain/errors.py`` as a table: status, title, meaning."""

    def run(self) -> list[nodes.Node]:
        import labcas_workflow_api.domain.errors as errors

        self.env.note_dependency(errors.__file__)
        classes = [
            cls
            for cls in vars(errors).values()
            if isinstance(cls, type)
            and issubclass(cls, errors.LabcasError)
            and cls is not errors.LabcasError
            and cls.__subclasses__() == []
        ]
        meaning = {}
        for line in (errors.__doc__ or "").splitlines():
            match = re.search(r"(\w+) \((\d{3})\)\s+(.*)$", line)
            if match:
                meaning[match.group(1)] = match.group(3).strip()
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 10 25 65",
            "   :class: api-table",
            "",
            "   * - Status",
            "     - ``title``",
            "     - When",
        ]
        for cls in sorted(classes, key=lambda c: (c.status, c.__name__)):
            when = meaning.get(cls.__name__) or " ".join((cls.__doc__ or "").split())
            lines += [
                f"   * - ``{cls.status}``",
                f"     - {inline(cls.title)}",
                f"     - {inline(when) or '—'}",
            ]
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList([*lines, ""]), container)
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("openapi-reference", OpenAPIReference)
    app.add_directive("labcas-errors", ErrorTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
