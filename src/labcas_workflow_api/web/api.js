// The API base URL, the session token and calls to the LabCAS Workflow API.

const TOKEN_KEY = "labcas.token";
const API_KEY = "labcas.api";

/** API base: ?api= (remembered for the tab), config.js, <meta name="labcas-api">, the page's origin. */
export function apiBase() {
  const fromQuery = new URLSearchParams(window.location.search).get("api");
  if (fromQuery) {
    sessionStorage.setItem(API_KEY, fromQuery);
  }
  const configured =
    fromQuery ||
    sessionStorage.getItem(API_KEY) ||
    (window.LABCAS_CONFIG && window.LABCAS_CONFIG.apiUrl) ||
    document.querySelector('meta[name="labcas-api"]')?.getAttribute("content");
  if (configured) return configured.replace(/\/+$/, "");
  const path = window.location.pathname;
  const at = path.lastIndexOf("/ui/") >= 0 ? path.lastIndexOf("/ui/") : path.endsWith("/ui") ? path.length - 3 : -1;
  return window.location.origin + (at >= 0 ? path.slice(0, at) : "");
}

export function setApiBase(url) {
  if (url) sessionStorage.setItem(API_KEY, url.replace(/\/+$/, ""));
  else sessionStorage.removeItem(API_KEY);
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
 * Call the API. Answers parsed JSON (or text with {text: true}); throws ApiError with the
 * problem+json detail, status 0 when the API cannot be reached.
 */
export async function call(method, path, { query, body, text = false, headers = {}, signal, signingIn = false } = {}) {
  const base = apiBase();
  const url = new URL(path.startsWith("http") ? path : base + path);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const init = {
    method,
    headers: { Accept: text ? "text/plain" : "application/json", ...headers },
    signal,
    credentials: "omit",
    cache: "no-store",
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
  if (response.status === 204) return {};
  try {
    return await response.json();
  } catch {
    throw new ApiError(response.status, "Unexpected answer", "The service answered something that is not JSON.");
  }
}

/** Follow `next` links of a listing, merging with `merge(acc, page)`; at most maxPages pages. */
export async function allPages(path, query, merge, { maxPages = 50, signal } = {}) {
  let page = await call("GET", path, { query, signal });
  let acc = merge(null, page);
  const seen = new Set();
  for (let i = 1; i < maxPages; i++) {
    const next = typeof page.next === "string" ? page.next : page.next && page.next.href;
    if (!next || seen.has(next)) break;
    seen.add(next);
    page = await call("GET", new URL(next, apiBase() + "/").href, { signal });
    acc = merge(acc, page);
  }
  return acc;
}
