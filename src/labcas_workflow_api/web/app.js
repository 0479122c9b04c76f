// LabCAS Workflows web app: sign in, data selections, workflows, runs and outputs.

import {
  ApiError, apiBase, apiBases, call, chooseApiBase, claims, expiryOf, getToken, ignoredApi, pathOf, setToken,
  userOf,
} from "./api.js";
import { el, fill } from "./dom.js";
import { parameterFields } from "./form.js";
import { outputsView } from "./outputs.js";
import { myRunsView, runView, runsPanel } from "./runs.js";
import { errorBox, heading, loading, newView, notice, routeLink } from "./ui.js";

const main = document.getElementById("main");
const session = document.getElementById("session");
const nav = document.getElementById("nav");
let signInMessage = null;
let expiryTimer = null;

// -- session ---------------------------------------------------------------------------------

function relative(date) {
  const minutes = Math.round((date.getTime() - Date.now()) / 60000);
  if (minutes <= 0) return "now";
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `in ${hours} h ${minutes % 60} min` : `in ${Math.floor(hours / 24)} days`;
}

function renderSession() {
  const token = getToken();
  nav.hidden = !token;
  if (!token) {
    session.replaceChildren();
    return;
  }
  const payload = claims(token);
  const expiry = expiryOf(payload);
  const who = userOf(payload) || "unknown user";
  fill(session,
    el("span", { class: "who" }, "Signed in as ", el("strong", { id: "signed-in-user" }, who)),
    expiry ? el("span", { class: "sep", "aria-hidden": "true" }, "·") : "",
    expiry ? el("span", { class: "expiry", title: expiry.toISOString() },
      `token expires ${expiry.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })} (${relative(expiry)})`) : "",
    el("button", { type: "button", class: "secondary small", onclick: () => signOut() }, "Sign out"));
  clearTimeout(expiryTimer);
  if (expiry) {
    const left = expiry.getTime() - Date.now();
    expiryTimer = setTimeout(() => {
      if (expiry.getTime() <= Date.now()) signOut("Your token has expired. Paste a fresh LabCAS token to go on.");
      else renderSession();
    }, Math.max(1000, Math.min(left, 60000)));
  }
}

function signOut(message) {
  setToken(null);
  signInMessage = message || null;
  renderSession();
  render();
}

/** Every refused token (401) leads back to the sign-in screen with a plain message. */
function guard(err) {
  if (err instanceof ApiError && err.status === 401) {
    signOut("The service did not accept your token: it may have expired or be meant for another server. Paste a fresh LabCAS token.");
    return true;
  }
  return false;
}
window.addEventListener("labcas:unauthorized", () => {
  if (getToken()) {
    signOut("The service did not accept your token: it may have expired or be meant for another server. Paste a fresh LabCAS token.");
  }
});
window.addEventListener("unhandledrejection", (event) => {
  if (guard(event.reason)) event.preventDefault();
});

function signInView(view) {
  const tokenInput = el("input", {
    id: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true,
    "aria-describedby": "token-help",
  });
  const bases = apiBases();
  const apiChoice = bases.length > 1
    ? el("select", { id: "api-url" }, bases.map((b) => el("option", { value: b, selected: b === apiBase() }, b)))
    : null;
  const status = el("div", { "aria-live": "polite" });
  const button = el("button", { type: "submit" }, "Sign in");

  async function submit(event) {
    event.preventDefault();
    const token = tokenInput.value.trim().replace(/^bearer\s+/i, "");
    if (!token) {
      fill(status, errorBox({ message: "Paste your token in the box first." }));
      tokenInput.focus();
      return;
    }
    const expiry = expiryOf(claims(token));
    if (expiry && expiry.getTime() <= Date.now()) {
      fill(status, el("div", { class: "alert alert-error", role: "alert" },
        el("p", { class: "alert-title" }, "This token has expired"),
        el("p", {}, `It expired on ${expiry.toLocaleString()}. Get a new token from LabCAS and paste it here.`)));
      return;
    }
    if (apiChoice) chooseApiBase(apiChoice.value);
    setToken(token);
    button.disabled = true;
    fill(status, loading("Checking your token"));
    try {
      await call("GET", "/data-selections", { signingIn: true });
    } catch (err) {
      setToken(null);
      button.disabled = false;
      if (!view.alive()) return;
      fill(status, err.status === 401
        ? el("div", { class: "alert alert-error", role: "alert" },
          el("p", { class: "alert-title" }, "The service did not accept this token"),
          el("p", {}, `${err.detail ? err.detail + ". " : ""}Check that you copied the whole token, or get a new one.`))
        : errorBox(err));
      return;
    }
    signInMessage = null;
    renderSession();
    render();
  }

  fill(main, el("section", { class: "signin panel" },
    heading("Sign in"),
    signInMessage ? el("div", { class: "alert alert-error", role: "alert" }, el("p", {}, signInMessage)) : "",
    el("form", { onsubmit: submit },
      el("div", { class: "field" },
        el("label", { for: "token" }, "LabCAS token"),
        tokenInput,
        el("p", { class: "help", id: "token-help" },
          "Paste the token you got from LabCAS. It is kept only in this browser tab and forgotten when you close it.")),
      el("details", {},
        el("summary", {}, "Service address"),
        apiChoice
          ? el("div", { class: "field" },
            el("label", { for: "api-url" }, "Workflow API"), apiChoice,
            el("p", { class: "help" }, "The services this site is set up for. Your token is sent only to the one you pick."))
          : el("p", {}, "Your token is sent only to ", el("code", { id: "api-url" }, apiBase()), ".")),
      el("div", { class: "actions" }, button),
      status)));
  tokenInput.focus();
}

// -- catalog ---------------------------------------------------------------------------------

async function dataSelectionsView(view) {
  const body = el("div", {}, loading("Loading your data selections"));
  fill(main, heading("Data selections"),
    el("p", { class: "lead" }, "Pick the data you want to process. You see the collections on which you may run at least one workflow."),
    body);
  try {
    const answer = await call("GET", "/data-selections");
    if (!view.alive()) return;
    const items = answer.data_selections || [];
    fill(body, items.length
      ? el("ul", { class: "cards" }, items.map((d) => el("li", {},
        el("a", { class: "card", href: routeLink(["ds", d.id]) },
          el("span", { class: "card-title" }, d.id),
          el("span", { class: "card-text" }, d.description || "")))))
      : el("p", { class: "empty" }, "There is no data selection you may use yet. Ask the LabCAS team for access."));
  } catch (err) {
    if (!guard(err) && view.alive()) fill(body, errorBox(err, { retry: () => dataSelectionsView(newView()), back: null }));
  }
}

async function workflowsView(view, dataId) {
  const body = el("div", {}, loading("Loading workflows"));
  fill(main,
    el("p", { class: "crumbs" }, el("a", { href: "#/" }, "Data selections"), " › ", dataId),
    heading("Workflows for ", el("span", { class: "mono" }, dataId)), body);
  try {
    const answer = await call("GET", "/data-selections/workflows", { query: { data_id: dataId } });
    if (!view.alive()) return;
    const items = answer.workflows || [];
    fill(body, items.length
      ? el("ul", { class: "cards" }, items.map((w) => el("li", {},
        el("a", { class: "card", href: routeLink(["wf", w.id], { ds: dataId }) },
          el("span", { class: "card-title" }, w.id),
          el("span", { class: "card-text" }, w.description || "")))))
      : el("p", { class: "empty" }, "No workflow is enabled for you on this data selection."));
  } catch (err) {
    if (!guard(err) && view.alive()) {
      fill(body, errorBox(err, {
        retry: () => workflowsView(newView(), dataId),
        suggest: (id) => routeLink(["ds", id]),
      }));
    }
  }
}

async function workflowView(view, workflowId, dataId) {
  const top = el("div", {}, loading("Loading the workflow"));
  fill(main,
    el("p", { class: "crumbs" }, el("a", { href: "#/" }, "Data selections"), " › ",
      dataId ? [el("a", { href: routeLink(["ds", dataId]) }, dataId), " › "] : "", workflowId),
    heading(workflowId), top);
  let workflow;
  try {
    workflow = await call("GET", pathOf("workflows", workflowId));
  } catch (err) {
    if (!guard(err) && view.alive()) {
      fill(top, errorBox(err, {
        retry: () => workflowView(newView(), workflowId, dataId),
        suggest: (id) => routeLink(["wf", id], { ds: dataId }),
        back: dataId
          ? { href: routeLink(["ds", dataId]), label: `Go to the workflows for ${dataId}` }
          : { href: "#/", label: "Go to the data selections" },
      }));
    }
    return;
  }
  if (!view.alive()) return;
  const selections = [...workflow.data_selections];
  if (dataId && !selections.includes(dataId)) selections.unshift(dataId);
  const fields = parameterFields(workflow.parameters);
  const dsSelect = el("select", { id: "data-selection", required: true },
    selections.map((d) => el("option", { value: d, selected: d === dataId }, d)));
  const formStatus = el("div", { "aria-live": "polite" });
  const runButton = el("button", { type: "submit", disabled: workflow.paused }, "Run");
  const runs = runsPanel(view, workflowId);
  let idempotencyKey = null;

  async function submit(event) {
    event.preventDefault();
    formStatus.replaceChildren();
    let params;
    try {
      params = fields.read();
      fields.clear();
    } catch (err) {
      fields.showErrors(err.errors || {});
      fill(formStatus, el("p", { class: "field-error" }, "Please correct the highlighted values."));
      return;
    }
    idempotencyKey = idempotencyKey || (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
    runButton.disabled = true;
    fill(formStatus, loading("Starting the run"));
    try {
      const started = await call("POST", pathOf("workflows", workflowId, "runs"), {
        body: { in_data_selection: dsSelect.value, params },
        headers: { "Idempotency-Key": idempotencyKey },
      });
      idempotencyKey = null;
      if (!view.alive()) return;
      fill(formStatus, notice("Run started: ",
        el("a", { href: routeLink(["run", workflowId, started.run_id]), id: "new-run-link" }, started.run_id),
        ` (${started.status || "queued"}). It appears in the table below and updates by itself.`));
      runs.reload(started.run_id);
    } catch (err) {
      if (guard(err) || !view.alive()) return;
      if (err.status === 422 || err.status === 400) {
        const mapped = fields.attribute(err.problem || { detail: err.detail });
        if (Object.keys(mapped).length) {
          fields.showErrors(mapped);
          fill(formStatus, el("p", { class: "field-error" }, "The service refused a value: see the highlighted field."));
        } else {
          fill(formStatus, errorBox(err));
        }
        idempotencyKey = null;
      } else {
        fill(formStatus, errorBox(err));
      }
    } finally {
      runButton.disabled = workflow.paused;
    }
  }

  fill(top,
    workflow.description ? el("p", { class: "lead" }, workflow.description) : "",
    workflow.paused ? el("div", { class: "alert alert-warn", role: "status" },
      el("p", {}, "This workflow is paused: runs cannot start now. Ask the LabCAS team to resume it.")) : "",
    el("form", { class: "panel run-form", onsubmit: submit, novalidate: true, "aria-labelledby": "form-title" },
      el("h2", { id: "form-title" }, "Start a run"),
      el("div", { class: "field" },
        el("label", { for: "data-selection" }, "Data selection"), dsSelect,
        el("p", { class: "help" }, "The data this run reads.")),
      fields.count ? fields.node : el("p", { class: "muted" }, "This workflow has no parameters."),
      el("div", { class: "actions" }, runButton),
      formStatus),
    runs.node);
}

// -- router ----------------------------------------------------------------------------------

function parseHash() {
  const raw = window.location.hash.replace(/^#/, "");
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter((p) => p).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return { parts, query: new URLSearchParams(query) };
}

function markNav(section) {
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function render() {
  const view = newView();
  const { parts, query } = parseHash();
  if (!getToken()) {
    signInView(view);
    return;
  }
  const [first, ...rest] = parts;
  markNav({ outputs: "outputs", runs: "runs", run: "runs" }[first] || "catalog");
  if (!first) dataSelectionsView(view);
  else if (first === "ds" && rest.length) workflowsView(view, rest.join("/"));
  else if (first === "wf" && rest.length) workflowView(view, rest[0], query.get("ds"));
  else if (first === "runs") myRunsView(view, main, query);
  else if (first === "run" && rest.length >= 2) runView(view, main, rest[0], rest.slice(1).join("/"));
  else if (first === "outputs") outputsView(view, main, rest.join("/"), query.get("file"));
  else fill(main, heading("Page not found"), el("p", {}, "This address does not lead anywhere. ", el("a", { href: "#/" }, "Go to the data selections.")));
  const title = document.getElementById("page-title");
  if (title && document.activeElement !== title && !main.contains(document.activeElement)) title.focus({ preventScroll: true });
}

window.addEventListener("hashchange", () => {
  if (window.location.hash.startsWith("#/") || window.location.hash === "") render();
});
document.getElementById("skip")?.addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
const ignored = ignoredApi();
if (ignored !== null) {
  const banner = document.getElementById("banner");
  fill(banner, el("div", { class: "alert alert-warn", role: "alert", id: "ignored-api" },
    el("p", { class: "alert-title" }, "This link asked for another service"),
    el("p", {}, "The address you followed asked this app to use ",
      el("code", {}, ignored.length > 200 ? `${ignored.slice(0, 200)}…` : ignored),
      ", which this site is not set up for. It was ignored: the app talks only to ",
      el("code", {}, apiBase()), ".")));
  banner.hidden = false;
}
renderSession();
render();
