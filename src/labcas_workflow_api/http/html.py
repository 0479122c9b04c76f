"""A navigable, escaped HTML rendering of an output folder."""

from __future__ import annotations

import json
from html import escape

from labcas_workflow_api.domain.sizes import human_size
from labcas_workflow_api.wire import Folder, FolderRun

#: The page's only style, allowed by its hash in the page's Content-Security-Policy.
LISTING_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
)


def render_listing(folder: Folder, parent: str | None) -> str:
    """The listing as a small standalone page, every value from storage escaped; in the top
    folder, a Run column for the folders of known runs."""
    title = escape("/" + folder.prefix)
    with_runs = any(link.run is not None for link in folder.folders.values())
    blank = "<td></td>" * (4 if with_runs else 3)
    rows = []
    if parent is not None:
        rows.append(f'<tr><td><a href="{escape(parent)}">../</a></td>{blank}</tr>')
    for name, link in folder.folders.items():
        cells = blank
        if link.run is not None:
            cells = "<td></td>" * 3 + f"<td>{_run(link.run)}</td>"
        rows.append(f'<tr><td><a href="{escape(link.href)}">{escape(name)}</a></td>{cells}</tr>')
    for name, info in folder.files.items():
        props = "".join(
            f"<div><b>{escape(k)}</b> = {escape(v)}</div>" for k, v in info.properties.items()
        )
        rows.append(
            f'<tr><td><a href="{escape(info.href)}">{escape(name)}</a></td>'
            f"<td>{escape(human_size(info.size))}</td>"
            f"<td>{escape(info.last_modified.isoformat())}</td><td>{props}</td>"
            + ("<td></td>" if with_runs else "")
            + "</tr>"
        )
    more = ""
    if folder.next:
        more = f'<p><a href="{escape(folder.next)}" rel="next">More…</a></p>'
    run_head = "<th>Run</th>" if with_runs else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Outputs {title}</title><style>{LISTING_STYLE}</style></head><body>"
        f"<h1>Outputs {title}</h1><table><thead><tr><th>Name</th><th>Size</th>"
        f"<th>Last modified</th><th>Properties</th>{run_head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{more}</body></html>"
    )


def _run(run: FolderRun) -> str:
    """The run's id linked (to the web app's page when served, else to the API's), and facts."""
    target = run.web_url or run.href
    conf = dict(run.conf)
    selection = conf.pop("in_data_selection", None)
    status = run.status.value + (" (partial outputs)" if run.partial else "")
    facts = [f"{run.workflow_id} on {selection}" if selection else run.workflow_id, status]
    if run.start_time is not None:
        facts.append(f"started {run.start_time.isoformat()}")
    facts += [f"{k} = {v if isinstance(v, str) else json.dumps(v)}" for k, v in conf.items()]
    return f'<a href="{escape(target)}">{escape(run.run_id)}</a>' + "".join(
        f"<div>{escape(fact)}</div>" for fact in facts
    )
