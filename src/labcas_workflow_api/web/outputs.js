// The output browser: folders, files, previews (images, TIFF, CSV) and metadata editing.

import { apiBase, call, outputPath } from "./api.js";
import { badge, el, fill, humanSize, scroller, timeEl } from "./dom.js";
import { decodeTiff } from "./tiff.js";
import { errorBox, heading, loading, notice, outputsLink, routeLink } from "./ui.js";

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|svg)$/i;
const TIFF = /\.tiff?$/i;
const CSV = /\.(csv|tsv)$/i;
const TEXT = /\.(txt|log|json|cfg|ini|md|ya?ml)$/i;
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PREVIEW_BYTES = 256 * 1024;

const MAX_FILE_PAGES = 50;
/** Properties shown as "key = value" in a folder listing when there are this few, each this
 * short; else their number (all of them in its tooltip and on the file's page). */
const SHOWN_PROPERTIES = 3;
const SHOWN_PROPERTY_LENGTH = 40;

/** A file's properties for a listing: the pairs when they fit, else "N properties". */
export function propertiesCell(properties) {
  const pairs = Object.entries(properties || {}).map(([k, v]) => `${k} = ${v}`);
  if (!pairs.length) return "";
  if (pairs.length <= SHOWN_PROPERTIES && pairs.every((p) => p.length <= SHOWN_PROPERTY_LENGTH)) {
    return el("ul", { class: "prop-pairs" }, pairs.map((p) => el("li", {}, p)));
  }
  return el("span", { title: pairs.join("\n") }, `${pairs.length} propert${pairs.length === 1 ? "y" : "ies"}`);
}

/** What the top folder says of the run that wrote a folder: its status (partial outputs of a
 * run that ended without succeeding), workflow and data selection, start, run and parameters. */
function folderRun(run) {
  const conf = { ...(run.conf || {}) };
  const selection = conf.in_data_selection;
  delete conf.in_data_selection;
  const params = Object.entries(conf).map(([k, v]) => `${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`);
  return el("div", { class: "folder-run" },
    el("div", {}, badge(run.status), run.partial ? el("span", { class: "partial" }, " partial outputs") : "",
      " ", el("a", { href: routeLink(["wf", run.workflow_id]) }, run.workflow_id),
      selection ? ` on ${selection}` : "", run.start_time ? [" · started ", timeEl(run.start_time)] : ""),
    el("div", {}, "Run ", el("a", { href: routeLink(["run", run.workflow_id, run.run_id]), class: "run-link mono" }, run.run_id)),
    params.length ? el("div", { class: "muted" }, params.join(", ")) : "");
}

/** One page of a folder: the first, or the one a previous page's `next` link names (only its
 * query, its cursor, is taken: the page is asked of the chosen API, whatever origin the link
 * names). */
async function folderPage(path, next) {
  if (!next) return call("GET", outputPath(path));
  const query = Object.fromEntries(new URL(next, apiBase() + "/").searchParams);
  return call("GET", outputPath(path), { query });
}

/** The page of a folder that lists `name` (pages are read in turn up to it), or null. */
async function findFile(path, name) {
  let next = null;
  for (let i = 0; i < MAX_FILE_PAGES; i++) {
    const page = await folderPage(path, next);
    if (page.files && page.files[name]) return page;
    if (!page.next || page.next === next) return null;
    next = page.next;
  }
  return null;
}

function breadcrumbs(path, file) {
  const parts = path.split("/").filter((p) => p);
  const nav = el("nav", { class: "crumbs", "aria-label": "Folder path" });
  const list = el("ol");
  list.append(el("li", {}, parts.length || file ? el("a", { href: outputsLink("") }, "My outputs") : el("span", { "aria-current": "page" }, "My outputs")));
  parts.forEach((part, i) => {
    const here = parts.slice(0, i + 1).join("/");
    const last = i === parts.length - 1 && !file;
    list.append(el("li", {}, last ? el("span", { "aria-current": "page" }, part) : el("a", { href: outputsLink(here) }, part)));
  });
  if (file) list.append(el("li", {}, el("span", { "aria-current": "page" }, file)));
  nav.append(list);
  return nav;
}

/** Parse CSV/TSV text (quotes, doubled quotes, newlines in quotes). */
export function parseCsv(text, sep = ",", maxRows = 200) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length && rows.length < maxRows; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === sep) { row.push(cell); cell = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += c;
  }
  if ((cell !== "" || row.length) && rows.length < maxRows) { row.push(cell); rows.push(row); }
  return rows;
}

async function fetchHead(href) {
  const response = await fetch(href, { headers: { Range: `bytes=0-${PREVIEW_BYTES - 1}` }, credentials: "omit" });
  if (!response.ok) throw new Error(`storage answered ${response.status}`);
  return response;
}

function previewUnavailable(entry, why) {
  return el("p", { class: "muted" }, `A preview is not available (${why}). `,
    el("a", { href: entry.href, download: entry.name, rel: "noopener" }, "Download the file"), " to open it.");
}

async function preview(entry, name) {
  if (IMAGE.test(name)) {
    return el("figure", { class: "preview" },
      el("img", { src: entry.href, alt: `Preview of ${name}` }),
      el("figcaption", {}, name));
  }
  if (TIFF.test(name)) {
    try {
      const response = await fetch(entry.href, { credentials: "omit" });
      if (!response.ok) throw new Error(`storage answered ${response.status}`);
      const canvas = await decodeTiff(await response.arrayBuffer());
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `Preview of ${name}`);
      return el("figure", { class: "preview" }, canvas, el("figcaption", {}, `${name} (${canvas.width}×${canvas.height})`));
    } catch (err) {
      return previewUnavailable(entry, `this TIFF could not be read here: ${err.message}`);
    }
  }
  if (CSV.test(name) || TEXT.test(name)) {
    let text;
    let partial = false;
    try {
      const response = await fetchHead(entry.href);
      text = await response.text();
      partial = response.status === 206 && entry.size > PREVIEW_BYTES;
    } catch (err) {
      return previewUnavailable(entry, `the storage server did not allow it: ${err.message}`);
    }
    if (!CSV.test(name)) return el("pre", { class: "log", tabindex: "0" }, text);
    const rows = parseCsv(text, /\.tsv$/i.test(name) ? "\t" : ",");
    if (partial && rows.length > 1) rows.pop();
    if (!rows.length) return el("p", { class: "muted" }, "This file is empty.");
    const [head, ...rest] = rows;
    const shown = rest.slice(0, 100);
    return el("div", { class: "csv-preview" },
      scroller(`Preview of ${name}`, el("table", { class: "csv" },
        el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, shown.map((r) => el("tr", {}, r.map((c) => el("td", {}, c))))))),
      el("p", { class: "muted" }, `Showing ${shown.length} row${shown.length === 1 ? "" : "s"}${rest.length > shown.length || partial ? " (the file has more)" : ""}.`));
  }
  return el("p", { class: "muted" }, "No preview for this kind of file.");
}

function changedMeanwhile(onReload) {
  return el("div", { class: "alert alert-error", role: "alert" },
    el("p", { class: "alert-title" }, "Someone else changed these properties"),
    el("p", {}, "They were saved by someone else after you opened this page, so yours were not saved. Reload to see theirs, then make your changes again."),
    el("div", { class: "alert-actions" }, el("button", { type: "button", class: "secondary", onclick: onReload }, "Reload the properties")));
}

function propertiesEditor(path, name, entry, onSaved, onReload) {
  const rows = el("tbody");
  const status = el("div", { "aria-live": "polite" });
  let counter = 0;

  function addRow(key = "", value = "") {
    counter += 1;
    const keyInput = el("input", { type: "text", value: key, "aria-label": "Property name", class: "prop-key", spellcheck: "false", autocomplete: "off" });
    const valueInput = el("input", { type: "text", value, "aria-label": "Property value", class: "prop-value", autocomplete: "off" });
    const tr = el("tr", {},
      el("td", {}, keyInput), el("td", {}, valueInput),
      el("td", {}, el("button", {
        type: "button", class: "link danger-text", "aria-label": `Remove property ${key || counter}`,
        onclick: () => { tr.remove(); status.replaceChildren(); },
      }, "Remove")));
    rows.append(tr);
    return keyInput;
  }

  for (const [k, v] of Object.entries(entry.properties || {})) addRow(k, v);
  const none = el("p", { class: "muted no-props" }, "No properties yet. Use “Add property” to describe this file.");
  const observer = new MutationObserver(() => { none.hidden = rows.childElementCount > 0; });
  observer.observe(rows, { childList: true });
  none.hidden = rows.childElementCount > 0;

  async function save(event) {
    event.preventDefault();
    const props = {};
    const problems = [];
    for (const tr of rows.querySelectorAll("tr")) {
      const keyInput = tr.querySelector(".prop-key");
      const valueInput = tr.querySelector(".prop-value");
      const key = keyInput.value.trim();
      const value = valueInput.value;
      keyInput.removeAttribute("aria-invalid");
      if (!key && !value) continue;
      if (!KEY.test(key)) {
        problems.push(`“${key || "(empty)"}” is not a valid name: use letters, digits and _, not starting with a digit.`);
        keyInput.setAttribute("aria-invalid", "true");
      } else if (key in props) {
        problems.push(`“${key}” appears twice.`);
        keyInput.setAttribute("aria-invalid", "true");
      } else if (/[\r\n]/.test(value)) {
        problems.push(`The value of “${key}” must be on one line.`);
      } else {
        props[key] = value;
      }
    }
    if (problems.length) {
      fill(status, el("div", { class: "alert alert-error", role: "alert" }, el("p", { class: "alert-title" }, "Please fix these first"),
        el("ul", {}, problems.map((p) => el("li", {}, p)))));
      return;
    }
    saveButton.disabled = true;
    fill(status, loading("Saving"));
    // written only over the properties shown here: a 412 means someone saved others meanwhile
    const file = { properties: props };
    if ("properties_etag" in entry) file.etag = entry.properties_etag;
    try {
      await call("PUT", outputPath(path), { body: { files: { [name]: file } } });
      await onSaved();
    } catch (err) {
      fill(status, err && err.status === 412 ? changedMeanwhile(onReload) : errorBox(err));
      saveButton.disabled = false;
    }
  }

  const saveButton = el("button", { type: "submit" }, "Save properties");
  return el("form", { class: "panel", onsubmit: save, "aria-labelledby": "props-title" },
    el("h2", { id: "props-title" }, "Properties"),
    el("p", { class: "help" }, "Describe this file with name = value pairs. They are saved next to the file."),
    scroller("Properties", el("table", { class: "props" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Name"), el("th", { scope: "col" }, "Value"), el("th", {}, ""))),
      rows)),
    none,
    el("div", { class: "actions" },
      el("button", { type: "button", class: "secondary", onclick: () => addRow().focus() }, "Add property"),
      saveButton),
    status);
}

/** The output browser screen: a folder listing (page by page), or one file's preview and
 * properties. */
export function outputsView(view, main, path, file, flash) {
  const body = el("div", {}, loading("Loading your outputs"));
  fill(main, heading(file ? file : "My outputs"), breadcrumbs(path, file), flash ? notice(flash) : "", body);

  async function load() {
    let page;
    try {
      page = file ? await findFile(path, file) : await folderPage(path, null);
    } catch (err) {
      if (!view.alive()) return;
      fill(body, errorBox(err, { retry: load, back: path || file ? { href: outputsLink(""), label: "Go to my outputs" } : null }));
      return;
    }
    if (!view.alive()) return;
    if (file) renderFile(page && page.files[file]);
    else renderFolder(page);
  }

  function folderRow(f, link) {
    const name = f.replace(/\/+$/, "");
    const target = path ? `${path}/${name}` : name;
    return el("tr", { class: link && link.run ? "with-run" : "" },
      el("td", { class: "thumb" }, el("span", { class: "icon-folder", "aria-hidden": "true" })),
      el("td", { class: "name-cell" }, el("a", { href: outputsLink(target), class: "folder-link" }, `${name}/`),
        link && link.run ? folderRun(link.run) : ""),
      el("td", {}, ""), el("td", {}, ""), el("td", {}, ""), el("td", {}, ""));
  }

  function fileRow(name, entry) {
    return el("tr", {},
      el("td", { class: "thumb" }, IMAGE.test(name)
        ? el("img", { src: entry.href, alt: "", loading: "lazy", width: "48", height: "48" })
        : el("span", { class: "icon-file", "aria-hidden": "true" })),
      el("td", { class: "name-cell" }, el("a", { href: outputsLink(path, name), class: "file-link" }, name)),
      el("td", { class: "num", "data-label": "Size" }, humanSize(entry.size)),
      el("td", { "data-label": "Modified" }, timeEl(entry.last_modified)),
      el("td", { "data-label": "Properties", class: "props-cell" }, propertiesCell(entry.properties)),
      el("td", {}, el("a", { href: entry.href, download: name, rel: "noopener", "aria-label": `Download ${name}` }, "Download")));
  }

  function renderFolder(first) {
    const folderNames = Object.keys(first.folders || {});
    const fileNames = Object.keys(first.files || {});
    if (!folderNames.length && !fileNames.length && !first.next) {
      fill(body, el("p", { class: "empty" }, path ? "This folder is empty." : "You have no outputs yet. Run a workflow; its results appear here."));
      return;
    }
    const rows = el("tbody");
    const counts = { folders: 0, files: 0 };
    const summary = el("p", { class: "muted", "aria-live": "polite" });
    const more = el("div", { class: "actions" });
    const status = el("div");

    /** Append a page's rows; answers the first of them. */
    function add(page) {
      const folders = Object.keys(page.folders || {});
      const files = Object.keys(page.files || {});
      const added = [...folders.map((f) => folderRow(f, page.folders[f])), ...files.map((n) => fileRow(n, page.files[n]))];
      rows.append(...added);
      counts.folders += folders.length;
      counts.files += files.length;
      const shown = `${counts.folders} folder${counts.folders === 1 ? "" : "s"}, ${counts.files} file${counts.files === 1 ? "" : "s"}`;
      summary.textContent = page.next ? `${shown} shown; this folder has more.` : `${shown}.`;
      more.replaceChildren();
      if (page.next) {
        const button = el("button", { type: "button", class: "secondary load-more" }, "Load more");
        button.addEventListener("click", () => loadMore(page.next, button));
        more.append(button);
      }
      return added[0];
    }

    async function loadMore(next, button) {
      button.disabled = true;
      fill(status, loading("Loading more"));
      try {
        const page = await folderPage(path, next);
        if (!view.alive()) return;
        status.replaceChildren();
        const firstNew = add(page);
        const link = firstNew && firstNew.querySelector("a.folder-link, a.file-link");
        if (link) link.focus();
      } catch (err) {
        if (!view.alive()) return;
        fill(status, errorBox(err, { retry: () => loadMore(next, button) }));
        button.disabled = false;
      }
    }

    fill(body, scroller("Folder contents", el("table", { class: "files stack" },
      el("thead", {}, el("tr", {}, el("th", {}, el("span", { class: "sr-only" }, "Preview")),
        ["Name", "Size", "Modified", "Properties", ""].map((h) => el("th", { scope: "col" }, h)))),
      rows)), summary, more, status);
    add(first);
  }

  async function renderFile(entry) {
    if (!entry) {
      fill(body, errorBox({ status: 404, detail: `There is no file “${file}” in this folder` }));
      return;
    }
    const previewBox = el("section", { class: "panel", "aria-label": "Preview" }, loading("Preparing the preview"));
    const facts = el("section", { class: "panel" },
      el("dl", { class: "facts" },
        el("dt", {}, "Size"), el("dd", {}, humanSize(entry.size)),
        el("dt", {}, "Modified"), el("dd", {}, timeEl(entry.last_modified))),
      el("div", { class: "actions" },
        el("a", { class: "button", href: entry.href, download: file, rel: "noopener" }, "Download"),
        el("a", { class: "button secondary", href: outputsLink(path) }, "Back to the folder")));
    const editor = propertiesEditor(path, file, entry,
      async () => {
        if (view.alive()) outputsView(view, main, path, file, "Properties saved. The values below were read back from the service.");
      },
      () => {
        if (view.alive()) outputsView(view, main, path, file, "These are the properties as saved now.");
      });
    fill(body, el("div", { class: "file-layout" }, el("div", {}, facts, previewBox), el("div", {}, editor)));
    const shown = await preview(entry, file);
    if (view.alive()) fill(previewBox, shown);
  }

  load();
}
