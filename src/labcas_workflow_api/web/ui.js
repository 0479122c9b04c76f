// Shared pieces of the screens: plain-words errors, notices, loading states, view lifetimes.

import { el } from "./dom.js";

/** What went wrong and what to do next, in plain words. */
export function explain(err) {
  const status = err && err.status;
  const detail = (err && err.detail) || "";
  if (status === 0) {
    return {
      title: "The workflow service cannot be reached",
      text: `${detail} Check your network connection; if it persists, the service may be down — try again in a few minutes or contact the LabCAS team.`,
    };
  }
  if (status === 401) {
    return {
      title: "Please sign in again",
      text: "The service did not accept your token (it may have expired). Paste a fresh LabCAS token.",
    };
  }
  if (status === 403) {
    return {
      title: "You are not allowed to do this",
      text: `${sentence(detail)}If you need access, ask the LabCAS team to add you to this workflow.`,
    };
  }
  if (status === 404) {
    return {
      title: "Not found",
      text: `${sentence(detail)}It may have been removed, or you may not have access to it.`,
    };
  }
  if (status === 409) {
    return { title: "Not possible right now", text: detail || "The request conflicts with the current state." };
  }
  if (status === 400 || status === 422) {
    return { title: "Please check what you entered", text: detail || "The request was not valid." };
  }
  if (status >= 500) {
    const what = status === 504 ? "took too long to answer" : status === 503 ? "is unavailable" : "had a problem";
    return {
      title: "The workflow service had a problem",
      text: `The service ${what}${detail ? ` (${detail})` : ""}. Try again in a minute; if it keeps happening, contact the LabCAS team.`,
    };
  }
  return { title: "Something went wrong", text: (err && err.message) || String(err) };
}

/** `text` as the start of a paragraph: with a full stop unless it ends a sentence already. */
function sentence(text) {
  if (!text) return "";
  return /[.?!]$/.test(text) ? `${text} ` : `${text}. `;
}

/** Whether asking again may help: no answer, a timeout, throttling or a failure of the service
 * (not a mistake in the request, which would only be refused again). */
export function retryable(err) {
  const status = err && err.status;
  return status === undefined || status === 0 || status === 408 || status === 429 || status >= 500;
}

/** The id the service suggests in a "did you mean 'x'?" answer, or null. */
export function suggestion(err) {
  const match = /did you mean '([^']+)'\?/.exec((err && err.detail) || "");
  return match ? match[1] : null;
}

/**
 * An alert box for an error, raw details only on request, and a way forward: "Try again"
 * (`retry`) where asking again may help; for a refused request, the service's suggestion as
 * a link (`suggest(id)` gives its address) and a link back (`back`: {href, label}, or null
 * for none; for a screen that could not load, `retry` given, the data selections by default).
 */
export function errorBox(err, { retry, back, suggest } = {}) {
  const { title, text } = explain(err);
  const box = el("div", { class: "alert alert-error", role: "alert" },
    el("p", { class: "alert-title" }, title),
    el("p", {}, text));
  const actions = el("div", { class: "alert-actions" });
  if (retryable(err)) {
    if (retry) actions.append(el("button", { type: "button", class: "secondary", onclick: retry }, "Try again"));
  } else {
    const better = suggestion(err);
    if (better && suggest) actions.append(el("a", { href: suggest(better), class: "suggestion" }, `Did you mean ${better}?`));
    const way = back !== undefined ? back : retry ? { href: "#/", label: "Go to the data selections" } : null;
    if (way) actions.append(el("a", { href: way.href, class: "back-link" }, way.label));
  }
  if (err && err.problem) {
    const pre = el("pre", { class: "raw", hidden: true }, JSON.stringify(err.problem, null, 2));
    actions.append(el("button", {
      type: "button", class: "link", "aria-expanded": "false",
      onclick: (e) => {
        pre.hidden = !pre.hidden;
        e.currentTarget.setAttribute("aria-expanded", String(!pre.hidden));
        e.currentTarget.textContent = pre.hidden ? "Show technical details" : "Hide technical details";
      },
    }, "Show technical details"));
    box.append(actions, pre);
  } else if (actions.childNodes.length) {
    box.append(actions);
  }
  return box;
}

export function notice(text, ...extra) {
  return el("div", { class: "alert alert-ok", role: "status" }, el("p", {}, text, ...extra));
}

export function loading(what = "Loading") {
  return el("p", { class: "loading", role: "status" }, `${what}…`);
}

let generation = 0;
const timers = new Set();

/** Start a new screen: earlier screens' timers stop and their late answers are ignored. */
export function newView() {
  generation += 1;
  for (const t of timers) clearTimeout(t);
  timers.clear();
  const mine = generation;
  return {
    alive: () => mine === generation,
    later(fn, ms) {
      const t = setTimeout(() => {
        timers.delete(t);
        if (mine === generation) fn();
      }, ms);
      timers.add(t);
      return t;
    },
    cancel(t) {
      clearTimeout(t);
      timers.delete(t);
    },
  };
}

/** A page heading that receives focus when the screen changes. */
export function heading(text, ...extra) {
  return el("h1", { tabindex: "-1", id: "page-title" }, text, ...extra);
}

export function routeLink(parts, query) {
  let hash = "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
  if (query) {
    const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ""));
    if ([...q].length) hash += "?" + q.toString();
  }
  return hash;
}

export function outputsLink(path, file) {
  const parts = String(path || "").split("/").filter((p) => p);
  let hash = "#/outputs" + (parts.length ? "/" + parts.map(encodeURIComponent).join("/") : "");
  if (file) hash += "?" + new URLSearchParams({ file }).toString();
  return hash;
}

/** The output-data path of an absolute output_url (…/output-data/<path>), or null. */
export function outputPathOfUrl(url) {
  if (!url) return null;
  try {
    const path = new URL(url, window.location.href).pathname;
    const at = path.indexOf("/output-data/");
    if (at < 0) return path.endsWith("/output-data") ? "" : null;
    return path.slice(at + "/output-data/".length).split("/").map(decodeURIComponent).join("/").replace(/\/+$/, "");
  } catch {
    return null;
  }
}
