"""Turn the Markdown-ish text of docstrings, field descriptions and the OpenAPI file into reST.

Only what those texts use: `code` spans, **bold**, *emphasis*, [links](url), paragraphs and
``-`` lists. Everything else is escaped so that no stray character becomes reST markup.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_STRONG = re.compile(r"\*\*([^*\s](?:[^*]*[^*\s])?)\*\*")
# Characters allowed right before and right after inline markup (docutils' rules).
_MAY_PRECEDE = "'\"([{<-/:"
_MAY_FOLLOW = "'\")]}>-/:.,;!?\\"
_EMPH = re.compile(r"(?<![\w*])\*([^*\s](?:[^*]*[^*\s])?)\*(?![\w*])")


def _escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    text = re.sub(r"(?<=\w)_(?=\W|$)", r"\\_", text)
    return text.replace("*", "\\*")


def _plain(text: str) -> list[tuple[str, str]]:
    """Pieces of (kind, reST) for text without code spans."""
    pieces: list[tuple[str, str]] = []
    pos = 0
    pattern = re.compile(f"{_LINK.pattern}|{_STRONG.pattern}|{_EMPH.pattern}")
    for match in pattern.finditer(text):
        if match.start() > pos:
            pieces.append(("text", _escape(text[pos : match.start()])))
        label, url, strong, emph = match.groups()
        if label is not None:
            pieces.append(("markup", f"`{_escape(label)} <{url}>`__"))
        elif strong is not None:
            pieces.append(("markup", f"**{_escape(strong)}**"))
        else:
            pieces.append(("markup", f"*{_escape(emph)}*"))
        pos = match.end()
    if pos < len(text):
        pieces.append(("text", _escape(text[pos:])))
    return pieces


def inline(text: str) -> str:
    """One line (or a paragraph) of Markdown-ish text as reST inline markup."""
    pieces: list[tuple[str, str]] = []
    pos = 0
    for match in _CODE.finditer(text):
        pieces += _plain(text[pos : match.start()])
        code = match.group(2).strip()
        if code:
            pieces.append(("markup", f"``{code}``"))
        pos = match.end()
    pieces += _plain(text[pos:])
    out = ""
    for index, (kind, value) in enumerate(pieces):
        if kind == "markup":
            if out and not out[-1].isspace() and out[-1] not in _MAY_PRECEDE:
                out += "\\ "
            out += value
            following = pieces[index + 1][1] if index + 1 < len(pieces) else ""
            if following and not following[0].isspace() and following[0] not in _MAY_FOLLOW:
                out += "\\ "
        else:
            out += value
    return out


def block(text: str) -> list[str]:
    """Several paragraphs and ``-`` lists of Markdown-ish text as reST lines."""
    lines: list[str] = []
    for raw in (text or "").strip().splitlines():
        stripped = raw.strip()
        if not stripped:
            lines.append("")
        elif stripped.startswith(("- ", "* ")):
            if lines and lines[-1] and not lines[-1].startswith("- "):
                lines.append("")
            lines.append("- " + inline(stripped[2:]))
        else:
            if lines and lines[-1].startswith("- "):
                lines.append("")
            lines.append(inline(stripped))
    lines.append("")
    return lines
