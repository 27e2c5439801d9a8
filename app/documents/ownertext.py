"""The one place where the owner's text becomes HTML (email HTML parts, letters,
the editor's preview).

The owner writes plain text. Whatever HTML they type is shown as text: every
character is escaped, then our code adds the only markup there is:

- a blank line starts a new paragraph (``<p>``), a single newline is a ``<br>``;
- ``**words**`` on one line are bold (``<strong>``);
- a bare ``https://…`` address becomes a link to itself (``<a href>``); nothing
  else does (no ``http:``, ``javascript:`` or ``mailto:``).

The values placeholders put in (client names, amounts…) are hostile too: the
sandbox hands them over between :data:`VALUE_START` and :data:`VALUE_END`
(``sandbox.render(..., html=True)``), and here they are escaped and never get
markup, so a client named ``**x** https://…`` is shown as typed. A value that is
an :class:`HtmlBlock` (the payment block, made by our own templates) is the one
piece of HTML kept as it is, as its own block between paragraphs.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# Private-use characters: taken out of the owner's source and of every value
# before rendering, so only the sandbox can put them in.
VALUE_START, VALUE_END = "\ue000", "\ue001"
BLOCK_START, BLOCK_END = "\ue002", "\ue003"
_TOKEN_START, _TOKEN_END = "\ue004", "\ue005"
MARKERS = VALUE_START + VALUE_END + BLOCK_START + BLOCK_END + _TOKEN_START + _TOKEN_END
_STRIP = {ord(c): None for c in MARKERS}

_BLOCK = re.compile(BLOCK_START + r"(\d+)" + BLOCK_END)
_TOKEN = re.compile(_TOKEN_START + r"(\d+)" + _TOKEN_END)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# An address: the characters RFC 3986 allows, never a quote, <, > or a marker.
_URL = re.compile(r"https://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+")
_URL_TAIL = ".,;:!?)]"


class HtmlBlock(str):
    """A placeholder value that is our own HTML (the payment block). Its text is the
    plain-text version, which is what the owner's filters and methods see."""

    def __new__(cls, text: str, html: str):
        self = super().__new__(cls, text)
        self._html = Markup(html)  # underscore: the sandbox cannot read it
        return self


def strip_markers(text: str) -> str:
    return str(text).translate(_STRIP)


def _split_values(marked: str) -> tuple[str, list[str]]:
    """The owner's text with each value replaced by a token, and the values. A value
    inside a value (``{% set %}`` blocks, macros) is part of the outer one; a
    marker cut off by a filter is simply dropped."""
    owner, values, depth, current = [], [], 0, []
    for char in marked:
        if char == VALUE_START:
            if depth == 0:
                current = []
            depth += 1
        elif char == VALUE_END:
            if depth == 0:
                continue
            depth -= 1
            if depth == 0:
                owner.append(f"{_TOKEN_START}{len(values)}{_TOKEN_END}")
                values.append("".join(current))
        elif depth:
            current.append(char)
        else:
            owner.append(char)
    if depth:  # an unclosed value: the rest is a value
        owner.append(f"{_TOKEN_START}{len(values)}{_TOKEN_END}")
        values.append("".join(current))
    return "".join(owner), values


def _plain(raw: str, values: list[str]) -> Markup:
    if _TOKEN_START not in raw:
        return escape(raw)
    out, position = [], 0
    for match in _TOKEN.finditer(raw):
        out.append(escape(raw[position : match.start()]))
        lines = strip_markers(values[int(match.group(1))]).split("\n")
        out.append(Markup("<br>\n").join(escape(line) for line in lines))
        position = match.end()
    out.append(escape(raw[position:]))
    return Markup("").join(out)


def _links(raw: str, values: list[str]) -> Markup:
    if "https://" not in raw:
        return _plain(raw, values)
    out, position = [], 0
    for match in _URL.finditer(raw):
        url = match.group(0).rstrip(_URL_TAIL)
        if len(url) <= len("https://"):
            continue
        out.append(_plain(raw[position : match.start()], values))
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        position = match.start() + len(url)
    out.append(_plain(raw[position:], values))
    return Markup("").join(out)


def _line(raw: str, values: list[str]) -> Markup:
    """One line: ``**`` opens bold when text follows it and closes it after text; an
    unclosed ``**`` stays as typed. One pass over the pieces (no backtracking)."""
    if "**" not in raw:
        return _links(raw, values)
    parts = raw.split("**")
    out, opened = [_links(parts[0], values)], None
    for index in range(1, len(parts)):
        piece, before = parts[index], parts[index - 1]
        if opened is None:
            if piece[:1].strip():
                opened = index
            else:
                out.append(_links("**" + piece, values))
        elif before[-1:].strip() and index > opened:
            bold = "**".join(parts[opened:index])
            out.append(Markup("<strong>{}</strong>").format(_links(bold, values)))
            out.append(_links(piece, values))
            opened = None
    if opened is not None:
        out.append(_links("**" + "**".join(parts[opened:]), values))
    return Markup("").join(out)


def _visible(raw: str, values: list[str]) -> bool:
    return bool(_TOKEN.sub(lambda m: values[int(m.group(1))], raw).strip())


def _paragraphs(raw: str, values: list[str]) -> list[Markup]:
    out = []
    for part in _PARAGRAPH_BREAK.split(raw):
        part = part.strip("\n")
        if not _visible(part, values):
            continue
        lines = Markup("<br>\n").join(_line(line, values) for line in part.split("\n"))
        out.append(Markup("<p>{}</p>\n").format(lines))
    return out


def to_html(marked: str, blocks: list[HtmlBlock] | tuple = ()) -> Markup:
    """The owner's rendered text as HTML (see the module's docstring). ``marked`` is
    the sandbox's output (values between markers, blocks as numbered markers), or
    any plain text."""
    text = str(marked).replace("\r\n", "\n").replace("\r", "\n")
    owner, values = _split_values(text)
    out, position = [], 0
    for match in _BLOCK.finditer(owner):
        out += _paragraphs(owner[position : match.start()], values)
        index = int(match.group(1))
        if index < len(blocks) and blocks[index]._html.strip():
            out.append(blocks[index]._html.strip() + Markup("\n"))
        position = match.end()
    out += _paragraphs(owner[position:], values)
    return Markup("").join(out)


__all__ = ["HtmlBlock", "to_html", "strip_markers", "VALUE_START", "VALUE_END"]
