"""A navigable, escaped HTML rendering of an output folder."""

from __future__ import annotations

from html import escape

from labcas_workflow_api.domain.sizes import human_size
from labcas_workflow_api.wire import Folder

#: The page's only style, allowed by its hash in the page's Content-Security-Policy.
LISTING_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
)


def render_listing(folder: Folder, parent: str | None) -> str:
    """The listing as a small standalone page; every value from storage is escaped."""
    title = escape("/" + folder.prefix)
    rows = []
    if parent is not None:
        rows.append(
            f'<tr><td><a href="{escape(parent)}">../</a></td><td></td><td></td><td></td></tr>'
        )
    for name, link in folder.folders.items():
        rows.append(
            f'<tr><td><a href="{escape(link.href)}">{escape(name)}</a></td>'
            "<td></td><td></td><td></td></tr>"
        )
    for name, info in folder.files.items():
        props = "".join(
            f"<div><b>{escape(k)}</b> = {escape(v)}</div>" for k, v in info.properties.items()
        )
        rows.append(
            f'<tr><td><a href="{escape(info.href)}">{escape(name)}</a></td>'
            f"<td>{escape(human_size(info.size))}</td>"
            f"<td>{escape(info.last_modified.isoformat())}</td><td>{props}</td></tr>"
        )
    more = ""
    if folder.next:
        more = f'<p><a href="{escape(folder.next)}" rel="next">More…</a></p>'
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Outputs {title}</title><style>{LISTING_STYLE}</style></head><body>"
        f"<h1>Outputs {title}</h1><table><thead><tr><th>Name</th><th>Size</th>"
        f"<th>Last modified</th><th>Properties</th></tr></thead><tbody>{''.join(rows)}"
        f"</tbody></table>{more}</body></html>"
    )
