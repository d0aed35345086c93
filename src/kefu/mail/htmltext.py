"""Plain text from an HTML mail body, for the text version, search and quote folding.

nh3 (ammonia, html5ever) does the parsing, so broken HTML is read as a browser reads it; the
scripts, styles and titles are dropped with their content. Line breaks that the markup implies
(``<br>``, paragraphs, blocks, table rows, list items) are kept; other whitespace collapses as a
browser collapses it; entities are unescaped.
"""

from __future__ import annotations

import html as htmllib
import re

import nh3

_BREAK = "\ue000"  # a private-use character, removed from the input first
_BREAK_TAGS = re.compile(r"<br\b[^<>]*>", re.I)
_BLOCKS = (
    r"p|div|li|ul|ol|dl|dt|dd|h[1-6]|table|blockquote|pre|hr|section|article|header|footer|"
    r"address|center|form|fieldset|figure|figcaption|main|nav|aside|body"
)
_PARAGRAPHS = {
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "table",
    "ul",
    "ol",
    "pre",
    "hr",
}
_OPEN_BLOCK = re.compile(rf"<({_BLOCKS})\b[^<>]*>", re.I)
_CLOSE_BLOCK = re.compile(rf"</({_BLOCKS})\s*>", re.I)
_ROW_END = re.compile(r"</t([dh])>(\s*)</tr\s*>", re.I)
_CELL_END = re.compile(r"</t[dh]\s*>", re.I)
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u3000]+")
_ANY_TAG = re.compile(r"<[^<>]*>")
_DROP = re.compile(r"<(script|style|title)\b.*?</\1\s*>", re.I | re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _breaks(match: re.Match[str]) -> str:
    return _BREAK * (2 if match.group(1).lower() in _PARAGRAPHS else 1)


def _mark_breaks(html: str) -> str:
    """Put a marker where the markup implies a line break (inside a cell for table rows, since
    HTML parsers move text found between table tags out of the table)."""
    html = html.replace(_BREAK, "")
    html = _BREAK_TAGS.sub(_BREAK, html)
    html = _OPEN_BLOCK.sub(lambda m: _breaks(m) + m.group(0), html)
    html = _CLOSE_BLOCK.sub(lambda m: m.group(0) + _breaks(m), html)
    html = _ROW_END.sub(lambda m: f"{_BREAK}</t{m.group(1)}>{m.group(2)}</tr>", html)
    return _CELL_END.sub(lambda m: m.group(0) + " ", html)


def _tidy(text: str) -> str:
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split(_BREAK)]
    out: list[str] = []
    blank = False
    for line in lines:
        if not line:
            blank = True
            continue
        if blank and out:
            out.append("")  # two or more breaks met: a paragraph
        out.append(line)
        blank = False
    return "\n".join(out)


def html_to_text(html: str) -> str:
    """The readable text of ``html``; never raises."""
    if not html:
        return ""
    marked = _mark_breaks(html)
    try:
        cleaned = nh3.clean(marked, tags=set(), clean_content_tags={"script", "style", "title"})
        text = htmllib.unescape(cleaned)
    except Exception:  # nh3 refused the input: fall back to a crude tag strip
        try:
            text = htmllib.unescape(_ANY_TAG.sub("", _DROP.sub("", marked)))
        except Exception:
            return ""
    return _tidy(text)
