"""Headers: RFC 2047 encoded-words, raw 8-bit values, RFC 2231 parameters, ids, dates."""

from __future__ import annotations

import binascii
import contextlib
import email.utils
import re
import urllib.parse
from collections.abc import Iterable
from datetime import UTC, datetime

from kefu.mail.parsing.decoding import decode_bytes

_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_NEWLINES = re.compile(r"[\r\n]+")
_B64_CHUNK = re.compile(rb"[A-Za-z0-9+/]+=*")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_ONE_LINE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_WHITESPACE_RUN = re.compile(r"\s+")
_MSGID = re.compile(r"<([^<>]*)>")


def _b64decode(data: bytes) -> bytes:
    """Base64 as mailers write it: junk characters, missing padding, several padded chunks,
    a stray MIME boundary line at the end."""
    if b"\n--" in data or data.startswith(b"--"):
        data = b"\n".join(line for line in data.split(b"\n") if not line.startswith(b"--"))
    out = bytearray()
    for chunk in _B64_CHUNK.findall(_B64_JUNK.sub(b"", data)):
        body = chunk.rstrip(b"=")
        if len(body) % 4 == 1:
            body = body[:-1]
        body += b"=" * (-len(body) % 4)
        with contextlib.suppress(binascii.Error, ValueError):
            out += binascii.a2b_base64(body)
    return bytes(out)


def _to_bytes(value: str) -> bytes:
    """A header or payload string from BytesParser back to its bytes (8-bit bytes are kept as
    surrogate escapes)."""
    try:
        return value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def _unfold(value: str) -> str:
    return _NEWLINES.sub(" ", _FOLD.sub("", value))


def decode_header_text(value: str, hints: Iterable[str | None] = ()) -> str:
    """Decode a raw header value: raw 8-bit bytes and RFC 2047 encoded-words (adjacent words
    in the same charset are joined before decoding, since clients split characters across
    them), each with the charset repair of :func:`decode_bytes`."""
    hints = tuple(hints)
    value = _unfold(value)
    if not value.isascii():
        value = decode_bytes(_to_bytes(value), None, hints)
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: bytearray | None = None
    pending_charset = ""
    position = 0

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            out.append(decode_bytes(bytes(pending), pending_charset or None, hints))
            pending = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if between.strip() or pending is None:
            flush()
            out.append(between)
        charset = match.group(1).split("*", 1)[0].lower()
        encoding = match.group(2).lower()
        payload = match.group(3)
        if encoding == "b":
            raw = _b64decode(payload.encode("ascii", "ignore"))
        else:
            raw = _QP_ESCAPE.sub(
                lambda m: bytes([int(m.group(1), 16)]),
                payload.replace("_", " ").encode("utf-8", "ignore"),
            )
        if pending is not None and charset != pending_charset:
            flush()
        if pending is None:
            pending = bytearray()
            pending_charset = charset
        pending += raw
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out)


def one_line(text: str, limit: int = 0) -> str:
    """A header value safe to put back into a header: no CR, LF or other controls."""
    text = _WHITESPACE_RUN.sub(" ", _ONE_LINE.sub(" ", text)).strip()
    return text[:limit] if limit else text


_CONTROLS_TO_SPACE = dict.fromkeys([*range(0x20), 0x7F], " ")


def header_line(value: str, hints: Iterable[str | None] = (), limit: int = 0) -> str:
    """``one_line(decode_header_text(value, hints), limit)``, the decoded header on one line.

    Most header values are plain ASCII without encoded-words; for those the result is the
    value with its controls (folding CR LF included) made spaces and its runs of white space
    made one, which ``str.translate`` and ``str.split`` do at a fraction of the regular
    expressions' cost.
    """
    if value.isascii() and "=?" not in value:
        text = " ".join(value.translate(_CONTROLS_TO_SPACE).split())
        return text[:limit] if limit else text
    return one_line(decode_header_text(value, hints), limit)


def _split_params(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escape = False
    for ch in value:
        if escape:
            current.append(ch)
            escape = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escape = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value.strip('"')


def header_params(value: str, hints: Iterable[str | None] = ()) -> tuple[str, dict[str, str]]:
    """The main value (lower-cased) and the decoded parameters of a Content-Type or
    Content-Disposition value: RFC 2231 (charset, continuations, percent-escapes), RFC 2047
    words inside quotes, and raw 8-bit values."""
    hints = tuple(hints)
    pieces = _split_params(_unfold(value))
    main = pieces[0].strip().lower() if pieces else ""
    simple: dict[str, str] = {}
    extended: dict[str, dict[int, tuple[bool, str]]] = {}
    for piece in pieces[1:]:
        if "=" not in piece:
            continue
        name, _, raw = piece.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        match = re.fullmatch(r"([^*]+)\*(\d+)?(\*)?", name)
        if match:
            base, index, star = match.group(1), match.group(2), match.group(3)
            if index is None:  # name*=charset'lang'value
                extended.setdefault(base, {})[0] = (True, raw.strip())
            else:
                extended.setdefault(base, {})[int(index)] = (bool(star), _unquote(raw))
        elif name not in simple:
            simple[name] = _unquote(raw)
    params: dict[str, str] = {}
    for name, raw_value in simple.items():
        params[name] = header_line(raw_value, hints)
    for name, sections in extended.items():
        charset = ""
        data = bytearray()
        for index in sorted(sections):
            encoded, text = sections[index]
            if encoded:
                if index == sorted(sections)[0] and text.count("'") >= 2:
                    charset, _lang, text = text.split("'", 2)
                data += urllib.parse.unquote_to_bytes(_unquote(text))
            else:
                data += _to_bytes(text)
        decoded = decode_bytes(bytes(data), charset or None, hints)
        if "=?" in decoded:
            decoded = decode_header_text(decoded, hints)
        params[name] = one_line(decoded)
    return main, params


def _ids(value: str) -> list[str]:
    text = _unfold(value)
    found = [re.sub(r"\s+", "", m) for m in _MSGID.findall(text)]
    ids = [i for i in found if i]
    if not ids and "<" not in text:
        ids = [t.strip("<>") for t in re.split(r"[\s,]+", text) if "@" in t or len(t) > 8]
    return [i[:998] for i in ids if i]


def _date(value: str) -> datetime | None:
    text = one_line(_unfold(value))
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
