"""Address headers (From, To, Cc, Reply-To), read as a person would read them."""

from __future__ import annotations

import re

from kefu.mail.parsing.decoding import decode_bytes
from kefu.mail.parsing.headers import _to_bytes, _unfold, header_line

_ADDRESS_FORBIDDEN = re.compile(r"[\s<>()\[\],;:\"\\\x00-\x1f\x7f]")
_ADDRESS_IN_TEXT = re.compile(r"[^\s<>()\[\],;:\"'@]+@[^\s<>()\[\],;:\"'@]+")


def clean_address(address: str) -> str:
    """A lower-cased addr-spec, or "" when ``address`` is not one (loosely: one @, no spaces)."""
    address = address.strip().strip("<>").strip().lower()
    if address.count("@") != 1 or len(address) > 254 or _ADDRESS_FORBIDDEN.search(address):
        return ""
    local, _, domain = address.partition("@")
    if not local or not domain or domain.startswith(".") or domain.endswith("."):
        return ""
    return address


def _split_top_level(text: str) -> list[tuple[str, str, str]]:
    """Split an address list at top-level commas and semicolons. Each item is returned as
    (display part, angle-bracket part, comments)."""
    items: list[tuple[str, str, str]] = []
    display: list[str] = []
    angle: list[str] = []
    comment: list[str] = []
    quoted = False
    depth = 0
    in_angle = False
    escape = False

    def close() -> None:
        items.append(("".join(display), "".join(angle), " ".join("".join(comment).split())))
        display.clear()
        angle.clear()
        comment.clear()

    for ch in text:
        target = angle if in_angle else comment if depth else display
        if escape:
            target.append(ch)
            escape = False
        elif ch == "\\" and (quoted or depth):
            escape = True
        elif quoted:
            if ch == '"':
                quoted = False
            display.append(ch)
        elif depth:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    comment.append(" ")
                    continue
            comment.append(ch)
        elif ch == '"' and not in_angle:
            quoted = True
            display.append(ch)
        elif ch == "(":
            depth = 1
        elif ch == "<" and not in_angle:
            in_angle = True
            angle.clear()
        elif ch == ">" and in_angle:
            in_angle = False
        elif ch in ",;" and not in_angle:
            close()
        else:
            target.append(ch)
    close()
    return items


def _display_name(text: str, hints: tuple[str | None, ...]) -> str:
    text = text.strip()
    if ":" in text and '"' not in text.split(":", 1)[0]:  # "group: name"
        text = text.split(":", 1)[1].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return header_line(text, hints, 255).strip("'\" ")


def _addresses(values: list[str], hints: tuple[str | None, ...]) -> list[tuple[str, str]]:
    """(name, address) pairs of address headers, parsed leniently: what real mail puts in
    them (junk inside the angle brackets, addresses as display names, unquoted commas in
    encoded names) yields the addresses a person would read."""
    result: list[tuple[str, str]] = []
    for value in values:
        text = _unfold(value)
        if not text.isascii():
            text = decode_bytes(_to_bytes(text), None, hints)
        for display, angle, comment in _split_top_level(text):
            if angle.strip():
                candidate, name = angle, display or comment
            else:
                candidate, name = display, comment
                if ":" in candidate:  # group syntax "team: a@b"
                    candidate = candidate.rsplit(":", 1)[1]
            candidate = re.sub(r"(?i)^\s*mailto:", "", candidate.strip())
            address = clean_address(candidate)
            if not address:
                found = _ADDRESS_IN_TEXT.findall(candidate[:1000])
                address = next((a for a in map(clean_address, found) if a), "")
            if address:
                result.append((_display_name(name, hints), address))
    return result
