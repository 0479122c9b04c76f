// The API base URL, the session token and calls to the LabCAS Workflow API.
//
// Where the token goes is decided by the deployment only: config.js names the API bases
// (apiUrl, the default, and apiUrls, further choices); empty means the page's own origin and
// stage prefix. "?api=" may pick one of those bases and nothing else; an unknown value is
// ignored (see ignoredApi()). Nothing from the URL is stored. call() attaches the token only
// to URLs under the chosen base; presigned storage links are fetched without it.

const TOKEN_KEY = "labcas.token";

sessionStorage.removeItem("labcas.api"); // an override older versions kept from the URL

/** `origin + path` of an absolute http(s) URL (no credentials, query or fragment), else null. */
function baseOf(value, relativeTo) {
  if (typeof value !== "string" || !value.trim()) return null;
  try {
    const url = new URL(value.trim(), relativeTo);
    if (url.protocol !== "https:" && url.protocol !== "http:") return null;
    if (url.username || url.password || url.search || url.hash) return null;
    return url.origin + url.pathname.replace(/\/+$/, "");
  } catch {
    return null;
  }
}

/** The page's origin and the stage prefix before /ui/ (…/dev/ui/ talks to …/dev). */
function pageBase() {
  const path = window.location.pathname;
  const at = path.lastIndexOf("/ui/") >= 0 ? path.lastIndexOf("/ui/") : path.endsWith("/ui") ? path.length - 3 : -1;
  return window.location.origin + (at >= 0 ? path.slice(0, at) : "");
}

function deployment() {
  const config = window.LABCAS_CONFIG && typeof window.LABCAS_CONFIG === "object" ? window.LABCAS_CONFIG : {};
  const here = window.location.href;
  const first = config.apiUrl ? baseOf(config.apiUrl, here) : pageBase();
  const more = Array.isArray(config.apiUrls) ? config.apiUrls.map((u) => baseOf(u, here)) : [];
  const bases = [...new Set([first, ...more].filter((b) => b))];
  const asked = new URLSearchParams(window.location.search).get("api");
  if (asked === null) return { bases, chosen: bases[0] || pageBase(), ignored: null };
  const wanted = baseOf(asked, here);
  return bases.includes(wanted)
    ? { bases, chosen: wanted, ignored: null }
    : { bases, chosen: bases[0] || pageBase(), ignored: asked };
}

const DEPLOYMENT = deployment();
let chosen = DEPLOYMENT.chosen;

/** The API base every call goes to. */
export function apiBase() {
  return chosen;
}

/** The API bases this deployment lets the user choose from (the default first). */
export function apiBases() {
  return [...DEPLOYMENT.bases];
}

/** The "?api=" value that was ignored because the deployment does not name it, or null. */
export function ignoredApi() {
  return DEPLOYMENT.ignored;
}

/** Talk to another configured base; kept in the page URL (?api=), never in storage. */
export function chooseApiBase(base) {
  if (!DEPLOYMENT.bases.includes(base)) return false;
  chosen = base;
  const url = new URL(window.location.href);
  if (base === DEPLOYMENT.bases[0]) url.searchParams.delete("api");
  else url.searchParams.set("api", base);
  history.replaceState(history.state, "", url.href);
  return true;
}

/** Whether the token may be sent to `url`: it is the chosen base or under it. */
function underBase(url) {
  const base = new URL(chosen);
  const root = base.pathname.replace(/\/+$/, "");
  return url.origin === base.origin && (url.pathname === root || url.pathname.startsWith(root + "/"));
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The payload of a JWT (not verified: the API does that), or {}. */
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = part + "=".repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const data = JSON.parse(new TextDecoder().decode(bytes));
    return data && typeof data === "object" ? data : {};
  } catch {
    return {};
  }
}

export function userOf(payload) {
  const name = payload.username || payload.sub;
  if (typeof name !== "string") return null;
  const match = /^\s*uid=([^,]+)/i.exec(name);
  return match ? match[1] : name;
}

export function expiryOf(payload) {
  return typeof payload.exp === "number" ? new Date(payload.exp * 1000) : null;
}

export class ApiError extends Error {
  constructor(status, title, detail, problem = null) {
    super(detail || title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.problem = problem;
  }
}

function quoteSegment(value) {
  return encodeURIComponent(value);
}

export function pathOf(...segments) {
  return "/" + segments.map(quoteSegment).join("/");
}

export function outputPath(path) {
  const parts = String(path || "").split("/").filter((p) => p);
  return "/output-data/" + parts.map(quoteSegment).join("/");
}

/**
 * Call the API. Answers parsed JSON (text with {text: true}, a Blob with {blob: true}); throws ApiError with the
 * problem+json detail, status 0 when the API cannot be reached.
 */
export async function call(method, path, { query, body, text = false, blob = false, headers = {}, signal, signingIn = false } = {}) {
  const base = apiBase();
  const url = new URL(base + path);
  if (!path.startsWith("/") || !underBase(url)) {
    throw new Error(`The app sends your token only to ${base}; it did not call ${url.href}.`);
  }
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const init = {
    method,
    // no-cache: the service lists a folder afresh rather than from a listing it holds
    headers: { Accept: text ? "text/plain" : "application/json", "Cache-Control": "no-cache", ...headers },
    signal,
    credentials: "omit",
    cache: "no-store",
    redirect: "error", // the token never follows a redirect, wherever it leads
  };
  const token = getToken();
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "Cannot reach the service", `The LabCAS Workflow API at ${base} did not answer.`);
  }
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = null;
    }
    if (response.status === 401 && !signingIn) {
      window.dispatchEvent(new CustomEvent("labcas:unauthorized"));
    }
    let detail = problem && problem.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    throw new ApiError(
      response.status,
      (problem && problem.title) || response.statusText || "Error",
      typeof detail === "string" ? detail : "",
      problem,
    );
  }
  if (text) return response.text();
  if (blob) return response.blob();
  if (response.status === 204) return {};
  try {
    return await response.json();
  } catch {
    throw new ApiError(response.status, "Unexpected answer", "The service answered something that is not JSON.");
  }
}

/**
 * Follow `next` links of a listing, merging with `merge(acc, page)`; at most maxPages pages.
 * Only a link's query (its cursor) is used: the next page is asked of `path` under the chosen
 * base, whatever origin the link names.
 */
export async function allPages(path, query, merge, { maxPages = 50, signal } = {}) {
  let page = await call("GET", path, { query, signal });
  let acc = merge(null, page);
  const seen = new Set();
  for (let i = 1; i < maxPages; i++) {
    const next = typeof page.next === "string" ? page.next : page.next && page.next.href;
    if (!next || seen.has(next)) break;
    seen.add(next);
    let nextQuery;
    try {
      nextQuery = Object.fromEntries(new URL(next, apiBase() + "/").searchParams);
    } catch {
      break;
    }
    page = await call("GET", path, { query: nextQuery, signal });
    acc = merge(acc, page);
  }
  return acc;
}
