// Runs: the caller's runs of every workflow ("My runs"), the runs table of one workflow
// (filter, auto-refresh) and one run's detail (tasks, logs, cancel).

import { allPages, call, pathOf } from "./api.js";
import { badge, duration, el, fill, runDuration, scroller, timeEl } from "./dom.js";
import { errorBox, heading, loading, notice, outputPathOfUrl, outputsLink, routeLink } from "./ui.js";
import { provenancePanel } from "./provenance.js";

const ACTIVE = new Set(["queued", "running"]);
const REFRESH_MS = () => (window.LABCAS_CONFIG && window.LABCAS_CONFIG.refreshMs) || 4000;
const STATUSES = ["queued", "running", "success", "failed", "cancelled"];

async function listRuns(path, query) {
  return allPages(path, query, (acc, page) => [...(acc || []), ...page.runs]);
}

function runParams(run) {
  const conf = run.conf || {};
  return Object.entries(conf).filter(([k]) => k !== "in_data_selection");
}

function valueText(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The run's folder in the caller's outputs ("20261128T101010123456"), or null. */
export function folderOf(run) {
  const folder = run.output_folder ?? outputPathOfUrl(run.output_url);
  return folder === null || folder === undefined ? null : String(folder).replace(/\/+$/, "");
}

/** How far a run got: "2 of 5 tasks done"; for one that ended without succeeding, the tasks
 * that succeeded before it stopped ("cancelled after 2 of 5 tasks"). */
export function progressText(run) {
  const { done, total } = run.progress;
  if (run.status === "cancelled" || run.status === "failed") {
    const succeeded = (run.tasks || []).filter((t) => t.state === "success").length;
    return `${run.status} after ${succeeded} of ${total} tasks`;
  }
  return `${done} of ${total} tasks done`;
}

function statusFilter(id, value) {
  return el("select", { id },
    el("option", { value: "" }, "All"),
    STATUSES.map((s) => el("option", { value: s, selected: s === value }, badge(s).textContent)));
}

/** A table of runs; at phone width its rows are stacked as cards, each cell naming its column
 * (data-label) and the run id on a line of its own, never broken. */
function runsTable(runs, { highlighted, everyWorkflow = false } = {}) {
  const columns = [
    everyWorkflow ? ["Workflow", (run) => el("a", { href: routeLink(["wf", run.workflow_id]) }, run.workflow_id)] : null,
    ["Run", (run) => el("a", { href: routeLink(["run", run.workflow_id, run.run_id]), class: "run-link" }, run.run_id)],
    ["Status", (run) => badge(run.status)],
    ["Data selection", (run) => (run.conf && run.conf.in_data_selection) || ""],
    everyWorkflow ? ["Parameters", (run) => {
      const params = runParams(run);
      return params.length ? el("span", {}, params.map(([k, v]) => el("span", { class: "param" }, `${k} = ${valueText(v)}`))) : "";
    }] : null,
    ["Started", (run) => timeEl(run.start_time)],
    everyWorkflow ? null : ["Ended", (run) => timeEl(run.end_time)],
    ["Duration", (run) => duration(runDuration(run))],
    ["Folder", (run) => {
      const folder = folderOf(run);
      return folder === null ? "" : el("a", { href: outputsLink(folder), class: "folder-link", "aria-label": `Outputs of ${run.run_id}: ${folder}` }, folder);
    }],
  ].filter((c) => c);
  const slug = (name) => `col-${name.toLowerCase().replace(/ /g, "-")}`;
  const rows = runs.map((run) => el("tr", { class: run.run_id === highlighted ? "highlight" : "", dataset: { runId: run.run_id } },
    columns.map(([name, cell]) => el("td", { "data-label": name === "Run" ? null : name, class: slug(name) }, cell(run)))));
  return scroller("Runs", el("table", { class: "runs stack" },
    el("thead", {}, el("tr", {}, columns.map(([name]) => el("th", { scope: "col", class: slug(name) }, name)))),
    el("tbody", {}, rows)));
}

/** "My runs": the caller's runs of every workflow they may run, filtered by status and
 * workflow (kept in the address), refreshed while one is queued or running. */
export function myRunsView(view, main, query) {
  const status = statusFilter("status-filter", query.get("status") || "");
  const workflow = el("select", { id: "workflow-filter" }, el("option", { value: "" }, "All"));
  const wanted = query.get("workflow") || "";
  if (wanted) workflow.append(el("option", { value: wanted, selected: true }, wanted));
  const state = el("p", { class: "muted refresh-state", "aria-live": "polite" });
  const body = el("div", {}, loading("Loading your runs"));
  fill(main, heading("My runs"),
    el("p", { class: "lead" }, "Every run you started, of every workflow you may run, newest first."),
    el("section", { class: "panel", "aria-label": "Your runs" },
      el("div", { class: "panel-head" },
        el("div", { class: "inline-controls" },
          el("label", { for: "status-filter" }, "Status"), status,
          el("label", { for: "workflow-filter" }, "Workflow"), workflow,
          el("button", { type: "button", class: "secondary", onclick: () => load() }, "Refresh"))),
      state, body));
  let timer = null;

  call("GET", "/workflows").then((answer) => {
    if (!view.alive()) return;
    for (const w of answer.workflows || []) {
      if (w.id !== wanted) workflow.append(el("option", { value: w.id }, w.id));
    }
  }, () => {});

  async function load() {
    if (timer) view.cancel(timer);
    const filters = { status: status.value || undefined, workflow: workflow.value || undefined };
    const hash = routeLink(["runs"], filters);
    if (window.location.hash !== hash) history.replaceState(history.state, "", hash);
    let runs;
    try {
      runs = await listRuns("/runs", filters);
    } catch (err) {
      if (!view.alive()) return;
      fill(body, errorBox(err, { retry: load, back: { href: routeLink(["runs"]), label: "Show all my runs" } }));
      return;
    }
    if (!view.alive()) return;
    fill(body, runs.length
      ? runsTable(runs, { everyWorkflow: true })
      : el("p", { class: "empty" }, filters.status || filters.workflow
        ? "No runs match these filters."
        : ["You have not started a run yet. ", el("a", { href: "#/" }, "Pick a data selection"), " to start one."]));
    const active = runs.some((r) => ACTIVE.has(r.status));
    state.textContent = active ? "Updating automatically while a run is queued or running." : "";
    if (active) timer = view.later(load, REFRESH_MS());
  }

  status.addEventListener("change", () => load());
  workflow.addEventListener("change", () => load());
  load();
}

/** The runs table of one workflow, refreshed while a run is queued or running. */
export function runsPanel(view, workflowId, { highlight } = {}) {
  const filter = statusFilter("status-filter", "");
  const state = el("p", { class: "muted refresh-state", "aria-live": "polite" });
  const body = el("div", {}, loading("Loading runs"));
  const refreshButton = el("button", { type: "button", class: "secondary", onclick: () => load() }, "Refresh");
  const panel = el("section", { class: "panel", "aria-labelledby": "runs-title" },
    el("div", { class: "panel-head" },
      el("h2", { id: "runs-title" }, "Your runs"),
      el("div", { class: "inline-controls" },
        el("label", { for: "status-filter" }, "Status"), filter, refreshButton)),
    state, body);
  let timer = null;
  let highlighted = highlight;

  async function load() {
    if (timer) view.cancel(timer);
    let runs;
    try {
      runs = await listRuns(pathOf("workflows", workflowId, "runs"), { status: filter.value || undefined });
    } catch (err) {
      if (!view.alive()) return;
      fill(body, errorBox(err, { retry: load }));
      return;
    }
    if (!view.alive()) return;
    render(runs);
    const active = runs.some((r) => ACTIVE.has(r.status));
    state.textContent = active ? "Updating automatically while a run is queued or running." : "";
    if (active) timer = view.later(load, REFRESH_MS());
  }

  function render(runs) {
    if (!runs.length) {
      fill(body, el("p", { class: "empty" }, filter.value
        ? "No runs with this status."
        : "You have not run this workflow yet. Fill in the form and press Run."));
      return;
    }
    fill(body, runsTable(runs, { highlighted }));
  }

  filter.addEventListener("change", () => load());
  load();
  return {
    node: panel,
    reload(newHighlight) {
      highlighted = newHighlight || highlighted;
      load();
    },
  };
}


/** The screen of one run. */
export function runView(view, main, workflowId, runId) {
  const title = heading("Run ", el("span", { class: "mono" }, runId));
  const crumbs = el("p", { class: "crumbs" },
    el("a", { href: routeLink(["runs"]) }, "My runs"), " › ",
    el("a", { href: routeLink(["wf", workflowId]) }, workflowId), " › run");
  const summary = el("div", {}, loading("Loading the run"));
  const tasksBox = el("div");
  const logBox = el("section", { class: "panel", hidden: true, "aria-labelledby": "log-title" });
  const message = el("div", { "aria-live": "polite" });
  const provenance = provenancePanel(view, workflowId, runId);
  fill(main, crumbs, title, message, summary, tasksBox, provenance.node, logBox);
  let timer = null;
  let wasActive = false;

  async function cancel(run) {
    if (!window.confirm(`Cancel run ${run.run_id} of ${workflowId}? Tasks that are running will be stopped.`)) return;
    try {
      await call("POST", pathOf("workflows", workflowId, "runs", run.run_id, "cancel"));
      fill(message, notice("The run was cancelled."));
    } catch (err) {
      fill(message, errorBox(err));
    }
    load();
  }

  async function showLog(task) {
    logBox.hidden = false;
    const tryNo = task.try_number;
    const mapped = task.map_index >= 0;
    fill(logBox, el("h2", { id: "log-title" }, "Log of ", el("code", {}, task.task_id),
      mapped ? ` [${task.map_index}]` : "", tryNo ? ` (try ${tryNo})` : ""), loading("Loading the log"));
    const query = {};
    if (tryNo) query.try = tryNo;
    if (mapped) query.map_index = task.map_index;
    try {
      const text = await call("GET", pathOf("workflows", workflowId, "runs", runId, "tasks", task.task_id, "logs"), {
        text: true, query,
      });
      if (!view.alive()) return;
      fill(logBox, logBox.firstChild, el("pre", { class: "log", tabindex: "0" }, text || "(empty log)"));
    } catch (err) {
      if (!view.alive()) return;
      const unsupported = [404, 405, 501].includes(err.status);
      fill(logBox, logBox.firstChild, unsupported && !err.detail
        ? el("p", { class: "empty" }, "This workflow engine does not provide task logs here.")
        : errorBox(err));
    }
    logBox.scrollIntoView({ block: "nearest" });
  }

  function render(run) {
    const out = folderOf(run);
    const params = runParams(run);
    const active = ACTIVE.has(run.status);
    const { progress } = run;
    const actions = el("div", { class: "actions" });
    if (out !== null) actions.append(el("a", { class: "button", href: outputsLink(out) }, "Open outputs"));
    if (active) actions.append(el("button", { type: "button", class: "danger", onclick: () => cancel(run) }, "Cancel run"));
    fill(summary, el("section", { class: "panel" },
      el("dl", { class: "facts" },
        el("dt", {}, "Status"), el("dd", {}, badge(run.status), active ? el("span", { class: "muted" }, " updating automatically") : ""),
        el("dt", {}, "Workflow"), el("dd", {}, el("a", { href: routeLink(["wf", workflowId]) }, workflowId)),
        el("dt", {}, "Data selection"), el("dd", {}, (run.conf && run.conf.in_data_selection) || "—"),
        el("dt", {}, "Started"), el("dd", {}, timeEl(run.start_time) || "not yet"),
        el("dt", {}, "Ended"), el("dd", {}, timeEl(run.end_time) || (active ? "still going" : "—")),
        el("dt", {}, "Duration"), el("dd", {}, duration(runDuration(run)) || "—"),
        el("dt", {}, "Progress"), el("dd", { id: "run-progress" },
          el("progress", { max: String(progress.total || 1), value: String(progress.done), "aria-label": "Tasks done" }),
          ` ${progressText(run)}`),
        el("dt", {}, "Folder"), el("dd", {}, out === null ? "—" : el("a", { href: outputsLink(out), class: "mono", id: "run-folder" }, out ? `${out}/` : "My outputs"),
          run.status === "cancelled" && out !== null ? el("span", { class: "muted" }, " (partial outputs: what the run wrote before it was cancelled)") : "")),
      params.length ? [el("h2", {}, "Parameters"), el("dl", { class: "facts" },
        params.map(([k, v]) => [el("dt", {}, el("code", {}, k)), el("dd", {}, valueText(v))]))] : "",
      actions));
    fill(tasksBox, el("section", { class: "panel", "aria-labelledby": "tasks-title" },
      el("h2", { id: "tasks-title" }, "Tasks"),
      scroller("Tasks", el("table", { class: "tasks stack" },
        el("thead", {}, el("tr", {}, ["Task", "State", "Started", "Ended", "Duration", "Try", ""].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, run.tasks.map((task) => el("tr", {},
          el("td", {}, el("code", {}, task.task_id),
            task.map_index >= 0 ? el("span", { class: "muted" }, ` [${task.map_index}]`) : ""),
          el("td", { "data-label": "State" }, badge(task.state || "queued")),
          el("td", { "data-label": "Started" }, timeEl(task.start_time)),
          el("td", { "data-label": "Ended" }, timeEl(task.end_time)),
          el("td", { "data-label": "Duration" }, duration(task.duration ?? null)),
          el("td", { "data-label": "Try" }, task.try_number ?? ""),
          el("td", {}, task.start_time || task.try_number
            ? el("button", { type: "button", class: "link", onclick: () => showLog(task) }, "View log")
            : ""))))))));
  }

  async function load() {
    if (timer) view.cancel(timer);
    try {
      const run = await call("GET", pathOf("workflows", workflowId, "runs", runId));
      if (!view.alive()) return;
      render(run);
      provenance.show();
      if (wasActive && !ACTIVE.has(run.status)) provenance.reload(); // it finished meanwhile
      wasActive = ACTIVE.has(run.status);
      if (ACTIVE.has(run.status)) timer = view.later(load, REFRESH_MS());
    } catch (err) {
      if (!view.alive()) return;
      fill(summary, errorBox(err, { retry: load, back: { href: routeLink(["runs"]), label: "Go to my runs" } }));
    }
  }
  load();
}
