// Safe DOM building: text goes through text nodes only, URLs are checked; no innerHTML.

const PROPS = new Set(["value", "checked", "disabled", "selected", "hidden", "open"]);

/** Create an element: el("a", {href, class, onclick, ...}, child, "text", [more]). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (key === "href" || key === "src") {
      node.setAttribute(key, safeUrl(value));
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (PROPS.has(key)) {
      node[key] = value;
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace the children of node. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** An http(s) or same-document URL; anything else (javascript:, data:) becomes "#". */
export function safeUrl(value) {
  const text = String(value ?? "");
  if (text.startsWith("#")) return text;
  try {
    const url = new URL(text, window.location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : "#";
  } catch {
    return "#";
  }
}

/**
 * A size for people, as the service shows it everywhere (domain/sizes.py): binary units,
 * whole bytes below 1 KiB, else one decimal in the largest unit that keeps the number under
 * 1024 (KiB, MiB, GiB, TiB, then TiB on).
 */
export function humanSize(n) {
  if (n === null || n === undefined || n === "" || Number.isNaN(Number(n)) || Number(n) < 0) return "";
  const bytes = Number(n);
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  for (const unit of units) {
    if (Number(value.toFixed(1)) < 1024 || unit === "TiB") return `${value.toFixed(1)} ${unit}`;
    value /= 1024;
  }
  return String(n);
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function timeEl(iso) {
  if (!iso) return "";
  return el("time", { datetime: iso, title: iso }, when(iso));
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

export function runDuration(run) {
  if (!run.start_time) return null;
  const start = new Date(run.start_time).getTime();
  const finished = ["success", "failed", "cancelled"].includes(run.status);
  const end = run.end_time ? new Date(run.end_time).getTime() : finished ? null : Date.now();
  return end === null ? null : (end - start) / 1000;
}

const STATUS_WORDS = {
  queued: "Queued", running: "Running", success: "Succeeded", failed: "Failed", cancelled: "Cancelled",
  skipped: "Skipped", upstream_failed: "Upstream failed", up_for_retry: "Retrying",
  scheduled: "Scheduled", deferred: "Deferred", removed: "Removed", restarting: "Restarting",
};

export function badge(status) {
  const key = String(status || "unknown");
  const word = STATUS_WORDS[key] || key.replaceAll("_", " ");
  return el("span", { class: `badge badge-${key.replace(/[^a-z_]/g, "")}` }, word);
}

/** A horizontally scrollable wrapper reachable by keyboard. */
export function scroller(label, child) {
  return el("div", { class: "scroller", tabindex: "0", role: "region", "aria-label": label }, child);
}
