// The runs of a workflow (table, filter, auto-refresh) and one run's detail (tasks, logs, cancel).

import { allPages, call, pathOf } from "./api.js";
import { badge, duration, el, fill, runDuration, scroller, timeEl } from "./dom.js";
import { errorBox, heading, loading, notice, outputPathOfUrl, outputsLink, routeLink } from "./ui.js";
import { provenancePanel } from "./provenance.js";

const ACTIVE = new Set(["queued", "running"]);
const REFRESH_MS = () => (window.LABCAS_CONFIG && window.LABCAS_CONFIG.refreshMs) || 4000;
const STATUSES = ["queued", "running", "success", "failed"];

async function listRuns(workflowId, status) {
  return allPages(pathOf("workflows", workflowId, "runs"), { status }, (acc, page) => [
    ...(acc || []),
    ...page.runs,
  ]);
}

function runParams(run) {
  const conf = run.conf || {};
  return Object.entries(conf).filter(([k]) => k !== "in_data_selection");
}

/** The runs table of one workflow, refreshed while a run is queued or running. */
export function runsPanel(view, workflowId, { highlight } = {}) {
  const filter = el("select", { id: "status-filter" },
    el("option", { value: "" }, "All"),
    STATUSES.map((s) => el("option", { value: s }, badge(s).textContent)));
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
      runs = await listRuns(workflowId, filter.value || undefined);
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
    const rows = runs.map((run) => {
      const out = outputPathOfUrl(run.output_url);
      const tr = el("tr", { class: run.run_id === highlighted ? "highlight" : "", dataset: { runId: run.run_id } },
        el("td", {}, el("a", { href: routeLink(["run", workflowId, run.run_id]), class: "run-link" }, run.run_id)),
        el("td", {}, badge(run.status)),
        el("td", {}, (run.conf && run.conf.in_data_selection) || ""),
        el("td", {}, timeEl(run.start_time)),
        el("td", {}, timeEl(run.end_time)),
        el("td", {}, duration(runDuration(run))),
        el("td", {}, out === null ? "" : el("a", { href: outputsLink(out) }, "Outputs")));
      return tr;
    });
    fill(body, scroller("Runs", el("table", { class: "runs" },
      el("thead", {}, el("tr", {}, ["Run", "Status", "Data selection", "Started", "Ended", "Duration", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows))));
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
    el("a", { href: "#/" }, "Data selections"), " › ",
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
    const out = outputPathOfUrl(run.output_url);
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
        el("dt", {}, "Progress"), el("dd", {},
          el("progress", { max: String(progress.total || 1), value: String(progress.done), "aria-label": "Tasks done" }),
          ` ${progress.done} of ${progress.total} tasks done`)),
      params.length ? [el("h2", {}, "Parameters"), el("dl", { class: "facts" },
        params.map(([k, v]) => [el("dt", {}, el("code", {}, k)), el("dd", {}, typeof v === "string" ? v : JSON.stringify(v))]))] : "",
      actions));
    fill(tasksBox, el("section", { class: "panel", "aria-labelledby": "tasks-title" },
      el("h2", { id: "tasks-title" }, "Tasks"),
      scroller("Tasks", el("table", {},
        el("thead", {}, el("tr", {}, ["Task", "State", "Started", "Ended", "Duration", "Try", ""].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, run.tasks.map((task) => el("tr", {},
          el("td", {}, el("code", {}, task.task_id),
            task.map_index >= 0 ? el("span", { class: "muted" }, ` [${task.map_index}]`) : ""),
          el("td", {}, badge(task.state || "queued")),
          el("td", {}, timeEl(task.start_time)),
          el("td", {}, timeEl(task.end_time)),
          el("td", {}, duration(task.duration ?? null)),
          el("td", {}, task.try_number ?? ""),
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
      if (wasActive && !ACTIVE.has(run.status)) provenance.reload(); // it finished meanwhile
      wasActive = ACTIVE.has(run.status);
      if (ACTIVE.has(run.status)) timer = view.later(load, REFRESH_MS());
    } catch (err) {
      if (!view.alive()) return;
      fill(summary, errorBox(err, { retry: load }));
    }
  }
  load();
}
