// A run form generated from a workflow's parameter schemas, with client-side validation.

import { el } from "./dom.js";

function typeOfValue(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  if (typeof value === "string") return "string";
  if (Array.isArray(value)) return "array";
  return "object";
}

/**
 * One parameter of GET /workflows/{id} (the Parameter schema of docs/openapi.yml) as the form
 * uses it: type, enum and bounds from its JSON Schema (`schema`, never the top-level copies);
 * a schema naming no type takes the type of the default.
 */
export function specOf(name, parameter) {
  const schema = parameter.schema;
  const declared = schema.type;
  let types = Array.isArray(declared) ? declared : declared ? [declared] : [];
  if (!types.length && !Array.isArray(schema.enum)) {
    const inferred = typeOfValue(parameter.default);
    if (inferred) types = [inferred];
  }
  return {
    name,
    default: parameter.default,
    description: parameter.description || "",
    schema,
    types,
    type: types.find((t) => t !== "null") || null,
    nullable: types.includes("null"),
    enum: Array.isArray(schema.enum) ? schema.enum : null,
  };
}

export function constraintText(spec) {
  const s = spec.schema;
  const parts = [];
  if (typeof s.minimum === "number") parts.push(`at least ${s.minimum}`);
  if (typeof s.exclusiveMinimum === "number") parts.push(`more than ${s.exclusiveMinimum}`);
  if (typeof s.maximum === "number") parts.push(`at most ${s.maximum}`);
  if (typeof s.exclusiveMaximum === "number") parts.push(`less than ${s.exclusiveMaximum}`);
  if (typeof s.minLength === "number") parts.push(`at least ${s.minLength} characters`);
  if (typeof s.maxLength === "number") parts.push(`at most ${s.maxLength} characters`);
  const kind = { integer: "Whole number", number: "Number", string: "Text", boolean: "Yes or no",
    array: "List", object: "JSON object" }[spec.type] || "Value";
  return parts.length ? `${kind}, ${parts.join(", ")}.` : `${kind}.`;
}

function inputFor(spec, id, describedBy) {
  const common = { id, name: spec.name, "aria-describedby": describedBy };
  const def = spec.default;
  if (spec.enum) {
    const select = el("select", common);
    if (spec.nullable || def === null || def === undefined) {
      select.append(el("option", { value: "__null__" }, "(none)"));
    }
    spec.enum.forEach((option, i) => {
      select.append(el("option", { value: String(i), selected: option === def }, String(option)));
    });
    return select;
  }
  if (spec.type === "boolean") {
    return el("input", { ...common, type: "checkbox", checked: def === true });
  }
  if (spec.type === "integer" || spec.type === "number") {
    const s = spec.schema;
    return el("input", {
      ...common, type: "number", inputmode: spec.type === "integer" ? "numeric" : "decimal",
      step: spec.type === "integer" ? "1" : "any",
      min: typeof s.minimum === "number" ? s.minimum : undefined,
      max: typeof s.maximum === "number" ? s.maximum : undefined,
      value: def === null || def === undefined ? "" : String(def),
    });
  }
  if (spec.type === "array" || spec.type === "object") {
    const text = def === null || def === undefined ? "" : JSON.stringify(def);
    return el("textarea", { ...common, rows: "2", spellcheck: "false", value: text });
  }
  return el("input", {
    ...common, type: "text", spellcheck: "false", autocomplete: "off",
    value: def === null || def === undefined ? "" : String(def),
  });
}

/** Build fields for every parameter; returns {node, read(), showErrors(map), clear()}. */
export function parameterFields(parameters) {
  const specs = Object.entries(parameters).map(([name, parameter]) => specOf(name, parameter));
  const fields = new Map();
  const node = el("div", { class: "fields" });
  specs.forEach((spec, i) => {
    const id = `param-${i}`;
    const helpId = `${id}-help`;
    const errId = `${id}-error`;
    const input = inputFor(spec, id, `${helpId} ${errId}`);
    const error = el("p", { class: "field-error", id: errId, hidden: true });
    const help = el("p", { class: "help", id: helpId },
      spec.description ? `${spec.description} ` : "", constraintText(spec),
      spec.default !== null && spec.default !== undefined ? ` Default: ${JSON.stringify(spec.default)}.` : "");
    const label = el("label", { for: id }, el("code", {}, spec.name));
    const wrapper = el("div", { class: spec.type === "boolean" ? "field field-check" : "field" },
      spec.type === "boolean" ? [input, label] : [label, input], help, error);
    fields.set(spec.name, { spec, input, error, wrapper });
    node.append(wrapper);
  });

  function readOne({ spec, input }) {
    if (spec.enum) {
      return input.value === "__null__" ? null : spec.enum[Number(input.value)];
    }
    if (spec.type === "boolean") return input.checked;
    const raw = input.value;
    if (raw === "" && spec.type === "string" && spec.nullable) return null;
    if (raw.trim() === "" && spec.type !== "string") {
      if (spec.default === null || spec.default === undefined || spec.nullable) return null;
      throw new Error(`Enter a value for ${spec.name}.`);
    }
    if (spec.type === "integer") {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new Error(`${spec.name} must be a whole number.`);
      return n;
    }
    if (spec.type === "number") {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new Error(`${spec.name} must be a number.`);
      return n;
    }
    if (spec.type === "array" || spec.type === "object") {
      const trimmed = raw.trim();
      if (spec.type === "array" && !trimmed.startsWith("[")) {
        return trimmed.split(",").map((p) => p.trim()).filter((p) => p)
          .map((p) => (/^-?\d+(\.\d+)?$/.test(p) && spec.schema.items?.type !== "string" ? Number(p) : p));
      }
      let value;
      try {
        value = JSON.parse(trimmed);
      } catch {
        throw new Error(`${spec.name} must be written as JSON, for example ${spec.type === "array" ? "[1, 2]" : '{"key": "value"}'}.`);
      }
      return value;
    }
    return raw;
  }

  function problems(spec, value) {
    const s = spec.schema;
    if (value === null) return [];
    if (typeof value === "number") {
      if (typeof s.minimum === "number" && value < s.minimum) return [`${spec.name} must be at least ${s.minimum}.`];
      if (typeof s.maximum === "number" && value > s.maximum) return [`${spec.name} must be at most ${s.maximum}.`];
      if (typeof s.exclusiveMinimum === "number" && value <= s.exclusiveMinimum) return [`${spec.name} must be more than ${s.exclusiveMinimum}.`];
      if (typeof s.exclusiveMaximum === "number" && value >= s.exclusiveMaximum) return [`${spec.name} must be less than ${s.exclusiveMaximum}.`];
    }
    if (typeof value === "string") {
      if (typeof s.minLength === "number" && value.length < s.minLength) return [`${spec.name} needs at least ${s.minLength} characters.`];
      if (typeof s.maxLength === "number" && value.length > s.maxLength) return [`${spec.name} allows at most ${s.maxLength} characters.`];
      if (typeof s.pattern === "string") {
        try {
          if (!new RegExp(s.pattern, "u").test(value)) return [`${spec.name} must match the pattern ${s.pattern}.`];
        } catch { /* a pattern JS cannot read is left to the server */ }
      }
    }
    if (spec.type === "array" && !Array.isArray(value)) return [`${spec.name} must be a list.`];
    if (spec.type === "object" && (typeof value !== "object" || Array.isArray(value))) return [`${spec.name} must be a JSON object.`];
    return [];
  }

  function showErrors(errors) {
    let first = null;
    for (const [name, field] of fields) {
      const message = errors[name];
      field.error.hidden = !message;
      field.error.textContent = message || "";
      field.wrapper.classList.toggle("invalid", Boolean(message));
      if (message) field.input.setAttribute("aria-invalid", "true");
      else field.input.removeAttribute("aria-invalid");
      if (message && !first) first = field.input;
    }
    if (first) first.focus();
    return Boolean(first);
  }

  /** The values, or throws {errors: {name: message}}. */
  function read() {
    const values = {};
    const errors = {};
    for (const [name, field] of fields) {
      try {
        const value = readOne(field);
        const found = problems(field.spec, value);
        if (found.length) errors[name] = found[0];
        else if (value !== null || field.spec.nullable) values[name] = value;
      } catch (err) {
        errors[name] = err.message;
      }
    }
    if (Object.keys(errors).length) {
      const failure = new Error("invalid");
      failure.errors = errors;
      throw failure;
    }
    return values;
  }

  /** The field a problem names in its `parameter` member (a 422), with the problem's detail. */
  function attribute(problem) {
    const named = problem && problem.parameter;
    return fields.has(named) ? { [named]: problem.detail } : {};
  }

  return { node, read, showErrors, attribute, clear: () => showErrors({}), count: specs.length };
}
