"""A task log read page after page: the server ends a cut page with a ``Link: rel="next"`` and
a note line saying where the rest is; the pages without those notes give the log."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from labcas_workflow_api.client.errors import raise_for_error

#: The line the server ends a cut page with (``service/log_pages.py``, ``LogPage.note``).
NOTE = re.compile(rb"\[LabCAS: the log was cut at byte (\d+) \([^)\n]*\); the rest: (\S+)\]\n?\Z")
_MAX_PAGES = 100_000


def read_log(
    http: httpx.Client, url: str, params: dict[str, Any], headers: dict[str, str]
) -> Iterator[str]:
    """The text of the log at ``url`` as it arrives, the rest of a cut page asked for with its
    link's query on ``url``; ``ClientError`` for an error answer, else ``httpx.HTTPError``."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offset = 0
    for _ in range(_MAX_PAGES):
        with http.stream("GET", url, params=params, headers=headers) as response:
            raise_for_error(response)
            page = Page(offset, response.links.get("next", {}).get("url"))
            for chunk in page.text(response.iter_bytes()):
                if text := decoder.decode(chunk):
                    yield text
        if page.next_query is None:
            break
        params, offset = dict(page.next_query), int(page.next_query["offset"])
    if rest := decoder.decode(b"", final=True):
        yield rest


class Page:
    """One page of a log from byte ``offset``: ``text(chunks)`` gives its bytes without the
    server's last line, then ``next_query`` holds the query of the rest (None at the end)."""

    def __init__(self, offset: int, link: str | None = None) -> None:
        self.offset = offset
        self.link = link
        self.next_query: dict[str, str] | None = None

    def text(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The page's bytes as they come, but for its last line, held back until the end
        (it may be the server's note, whose leading line end may be the server's too)."""
        held = bytearray()
        given = 0
        for chunk in chunks:
            searched = max(len(held) - 1, 0)  # what is held before has no line end past 0
            held += chunk
            cut = held.rfind(b"\n", searched, len(held) - 1)
            if cut > 0:
                yield bytes(held[:cut])
                given += cut
                del held[:cut]
        note = NOTE.search(held)
        if note is None:
            yield bytes(held)
            if self.link is not None:  # a Link without a note: follow it as given
                self._follow(self.link)
            return
        end = int(note.group(1)) - self.offset - given  # the page's log bytes still held
        yield bytes(held[: max(0, min(end, note.start()))])
        self._follow(self.link or note.group(2).decode())

    def _follow(self, link: str) -> None:
        query = dict(parse_qsl(urlsplit(link).query))
        offset = query.get("offset", "")
        if offset.isdigit() and int(offset) > self.offset:  # only ever forward
            self.next_query = query
