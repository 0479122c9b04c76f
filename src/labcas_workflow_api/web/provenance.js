// A run's provenance, read from its Workflow Run RO-Crate: who ran which version of the
// workflow, on which engine and data, with which parameters, and how many files it wrote;
// and the whole crate (zip) to download.

import { call, pathOf } from "./api.js";
import { el, fill, humanSize } from "./dom.js";
import { errorBox, loading, notice } from "./ui.js";

const STATUS_WORDS = {
  PotentialActionStatus: "not started",
  ActiveActionStatus: "running",
  CompletedActionStatus: "completed",
  FailedActionStatus: "did not complete",
};

function list(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function types(entity) {
  return list(entity && entity["@type"]);
}

/** The facts a person looks for, from the crate's JSON-LD graph. */
export function provenanceFacts(crate) {
  const byId = new Map(list(crate && crate["@graph"]).map((e) => [e["@id"], e]));
  const get = (ref) => (ref && byId.get(ref["@id"])) || null;
  const action = [...byId.values()].find((e) => types(e).includes("CreateAction"));
  if (!action) return null;
  const workflow = get(action.instrument) || {};
  const identifiers = Object.fromEntries(list(workflow.identifier).map(get).filter(Boolean)
    .map((p) => [p.propertyID, p.value]));
  const engine = [...byId.values()].find((e) => types(e).includes("SoftwareApplication")) || {};
  const objects = list(action.object).map(get).filter(Boolean);
  const agent = get(action.agent) || {};
  const status = String((action.actionStatus && action.actionStatus["@id"]) || "").split("/").pop();
  return {
    user: agent.name || agent["@id"] || "",
    userId: agent["@id"] || "",
    workflow: workflow.name || "",
    version: workflow.version || "",
    sha256: identifiers.sha256 || "",
    versionNote: workflow.creativeWorkStatus || "",
    engine: [engine.name, engine.softwareVersion].filter(Boolean).join(" "),
    data: objects.filter((o) => types(o).includes("Dataset"))
      .map((d) => ({ name: d.identifier || d.name || d["@id"], uri: d["@id"] })),
    parameters: objects.filter((o) => types(o).includes("PropertyValue"))
      .map((p) => ({ name: p.name, value: p.value, note: p.description || "" })),
    outputs: list(action.result).length,
    status: STATUS_WORDS[status] || status,
    note: action.description || "",
  };
}

function value(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}

async function download(workflowId, runId, button, message) {
  button.disabled = true;
  fill(message, loading("Preparing the crate"));
  try {
    const blob = await call("GET", pathOf("workflows", workflowId, "runs", runId, "ro-crate"), {
      query: { format: "zip" }, blob: true, headers: { Accept: "application/zip" },
    });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob); // our own Blob: not a URL from the answer
    link.download = `${runId}-ro-crate.zip`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    fill(message, notice(`Downloaded ${link.download} (${humanSize(blob.size)}).`));
  } catch (err) {
    fill(message, errorBox(err));
  } finally {
    button.disabled = false;
  }
}

/** The provenance panel of one run; `reload()` reads the crate again. */
export function provenancePanel(view, workflowId, runId) {
  const body = el("div", {}, loading("Loading the provenance"));
  const message = el("div", { "aria-live": "polite" });
  const button = el("button", { type: "button", class: "secondary", id: "crate-download" },
    "Download the RO-Crate (zip)");
  button.addEventListener("click", () => download(workflowId, runId, button, message));
  // shown once the run itself is found: an unknown run gets one error, not two
  const panel = el("section", { class: "panel", id: "provenance", hidden: true, "aria-labelledby": "provenance-title" },
    el("div", { class: "panel-head" }, el("h2", { id: "provenance-title" }, "Provenance"), button),
    el("p", { class: "muted" }, "A Workflow Run RO-Crate: a standard record of this run, to keep or publish with its results."),
    body, message);

  async function load() {
    let crate;
    try {
      crate = await call("GET", pathOf("workflows", workflowId, "runs", runId, "ro-crate"), {
        headers: { Accept: "application/ld+json" },
      });
    } catch (err) {
      if (view.alive()) fill(body, errorBox(err, { retry: load }));
      return;
    }
    if (!view.alive()) return;
    const facts = provenanceFacts(crate);
    if (!facts) {
      fill(body, el("p", { class: "empty" }, "The record names no run."));
      return;
    }
    fill(body, el("dl", { class: "facts" },
      el("dt", {}, "Run by"), el("dd", {}, facts.user, el("span", { class: "muted mono" }, ` (${facts.userId})`)),
      el("dt", {}, "Workflow"), el("dd", {}, facts.workflow,
        facts.version ? ` version ${facts.version}` : "",
        facts.sha256 ? el("span", { class: "muted mono", title: facts.sha256 }, ` sha256 ${facts.sha256.slice(0, 12)}…`) : "",
        facts.versionNote ? el("div", { class: "muted" }, facts.versionNote) : ""),
      el("dt", {}, "Engine"), el("dd", {}, facts.engine || "—"),
      el("dt", {}, "Data"), el("dd", {}, facts.data.length
        ? facts.data.map((d) => el("div", {}, d.name, el("span", { class: "muted mono" }, ` ${d.uri}`)))
        : "—"),
      el("dt", {}, "Parameters"), el("dd", {}, facts.parameters.length
        ? facts.parameters.map((p) => el("div", {}, el("code", {}, p.name), ` = ${value(p.value)}`,
          p.note ? el("span", { class: "muted" }, ` (${p.note})`) : ""))
        : "none"),
      el("dt", {}, "Outputs"), el("dd", { id: "provenance-outputs" }, `${facts.outputs} file${facts.outputs === 1 ? "" : "s"} listed`),
      el("dt", {}, "Outcome"), el("dd", {}, facts.status)),
      facts.note ? el("p", { class: "muted" }, facts.note) : "");
  }

  function show() {
    if (!panel.hidden) return;
    panel.hidden = false;
    load();
  }

  return { node: panel, reload: load, show };
}
