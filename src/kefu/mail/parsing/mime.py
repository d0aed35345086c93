"""MIME parts: walking the tree, transfer encodings, bodies, attachments, broken boundaries."""

from __future__ import annotations

import binascii
import contextlib
import email.feedparser
import email.policy
import mimetypes
import re
import urllib.parse
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser

from kefu.mail.parsing.decoding import decode_bytes
from kefu.mail.parsing.headers import (
    _b64decode,
    _to_bytes,
    _unfold,
    header_params,
    one_line,
)
from kefu.mail.parsing.model import ParsedAttachment

_REPORT_PARTS = {
    "message/delivery-status",
    "message/global-delivery-status",
    "message/disposition-notification",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
}
_MESSAGE_PARTS = {"message/rfc822", "message/global", "message/news"}
_UUENCODE = {"x-uuencode", "uuencode", "uue", "x-uue"}
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_BOUNDARY_LINE = re.compile(rb"^--([^\r\n]{1,200}?)[ \t]*\r?$", re.M)
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


class _BoundaryMatcher:
    """What ``email.feedparser`` compiles for each multipart's boundary,
    ``(?P<sep>--BOUNDARY)(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>\\r\\n|\\r|\\n)?$``, without
    compiling a regular expression per message (about 0.1 ms each, boundaries are unique so
    ``re``'s cache never helps): the line must start with the separator, and the rest is
    matched by one pattern compiled once. ``match`` returns that pattern's match, whose
    ``end`` and ``linesep`` groups are the ones the parser reads."""

    TAIL = re.compile(r"(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")

    __slots__ = ("separator",)

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return self.TAIL.match(line, len(self.separator))


_BOUNDARY_HEAD = "(?P<sep>"
_BOUNDARY_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_ESCAPED = re.compile(r"\\(.)", re.S)


class _FeedParserRe:
    """``re`` as ``email.feedparser`` sees it: the same module, except that the boundary
    pattern it compiles for each multipart is a :class:`_BoundaryMatcher`."""

    def __getattr__(self, name: str) -> object:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: object, flags: int = 0) -> object:
        if (
            isinstance(pattern, str)
            and not flags
            and pattern.startswith(_BOUNDARY_HEAD)
            and pattern.endswith(_BOUNDARY_TAIL)
        ):
            escaped = pattern[len(_BOUNDARY_HEAD) : -len(_BOUNDARY_TAIL)]
            separator = _ESCAPED.sub(r"\1", escaped)
            if re.escape(separator) == escaped:  # exactly what feedparser built
                return _BoundaryMatcher(separator)
        return re.compile(pattern, flags)  # type: ignore[call-overload]


if getattr(email.feedparser, "re", None) is re:
    setattr(email.feedparser, "re", _FeedParserRe())  # noqa: B010 (the stdlib module's global)

# kefu reads every header from its raw value (``raw_items``) and decodes it itself, so the
# parser needs no header objects: ``compat32`` skips building them, which is more than half
# of the standard library's parsing time with ``policy.default``.
PARSE_POLICY = email.policy.compat32


def _raw_header(part: Message, name: str) -> str | None:
    for key, value in part.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def _raw_headers(part: Message, name: str) -> list[str]:
    return [str(value) for key, value in part.raw_items() if key.lower() == name]


def _content_type(part: Message, hints: tuple[str | None, ...]) -> tuple[str, dict[str, str]]:
    """The part's media type and parameters, read once per part (the walk, the body's text
    and its charset checks ask again): a copy of the parameters each time."""
    cached = part.__dict__.get("_kefu_content_type")
    if cached is None or cached[0] != hints:
        cached = (hints, *_read_content_type(part, hints))
        part.__dict__["_kefu_content_type"] = cached
    return cached[1], dict(cached[2])


def _read_content_type(part: Message, hints: tuple[str | None, ...]) -> tuple[str, dict[str, str]]:
    raw = _raw_header(part, "content-type")
    if raw is None:
        return part.get_default_type(), {}
    main, params = header_params(raw, hints)
    main = re.sub(r"\s+", "", main)
    if main.count("/") != 1 or not all(main.split("/")):
        return "text/plain", params
    return main, params


def _transfer_encoding(part: Message) -> str:
    raw = (_raw_header(part, "content-transfer-encoding") or "").lower()
    if "base64" in raw:
        return "base64"
    if "quoted" in raw:
        return "quoted-printable"
    token = re.sub(r"[^a-z0-9-]", "", raw.split(";", 1)[0])
    return token


def _raw_payload(part: Message) -> bytes:
    """The body of a part exactly as it was in the message (``get_payload()`` would already
    decode 8-bit bytes with the declared charset, replacing what does not fit)."""
    payload = getattr(part, "_payload", None)
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return _to_bytes(payload)
    return b""


def _uudecode(data: bytes) -> bytes:
    out = bytearray()
    started = False
    for line in data.splitlines():
        if not started:
            started = line.startswith(b"begin ")
            continue
        if line.strip() in (b"end", b"`"):
            if line.strip() == b"end":
                break
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            with contextlib.suppress(binascii.Error, IndexError):
                size = (((line[0] - 32) & 63) * 4 + 5) // 3  # as the standard library does
                out += binascii.a2b_uu(line[:size])
    return bytes(out)


def _payload_bytes(part: Message) -> bytes:
    data = _raw_payload(part)
    cte = _transfer_encoding(part)
    if cte == "base64":
        return _b64decode(data)
    if cte == "quoted-printable":
        return binascii.a2b_qp(data)
    if cte in _UUENCODE:
        return _uudecode(data)
    return data


def _message_bytes(part: Message) -> bytes:
    """The bytes of an attached message (message/rfc822), undoing a base64 or
    quoted-printable transfer encoding that some servers apply although RFC 2046 forbids it."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    data = b""
    if isinstance(inner, Message):
        for policy in (email.policy.compat32, email.policy.default):
            with contextlib.suppress(Exception):
                data = inner.as_bytes(policy=policy)
                break
    elif isinstance(payload, str):
        data = _raw_payload(part)
    cte = _transfer_encoding(part)
    if cte == "base64":
        data = _b64decode(data.split(b"\n\n", 1)[-1] if isinstance(inner, Message) else data)
    elif cte == "quoted-printable":
        data = binascii.a2b_qp(data)
    return data


def _safe_filename(name: str) -> str:
    name = one_line(name)
    name = _UNSAFE_FILENAME.sub("/", name).rsplit("/", 1)[-1].strip().lstrip(".")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name


def _recover_multipart(part: Message, ctype: str) -> Message | None:
    """A multipart whose boundary is missing or wrong: find the boundary the body really uses
    and parse it again."""
    body = _raw_payload(part)
    if not body.strip():
        return None
    counts: dict[bytes, int] = {}
    first: dict[bytes, int] = {}
    for match in _BOUNDARY_LINE.finditer(body):
        token = match.group(1)
        if token.endswith(b"--"):
            token = token[:-2]
        if token.strip():
            counts[token] = counts.get(token, 0) + 1
            first.setdefault(token, match.start())
    if not counts:
        return None
    boundary = max(counts, key=lambda b: (counts[b], -first[b]))
    boundary_text = boundary.decode("ascii", "replace").replace('"', "")
    head = f'Content-Type: {ctype}; boundary="{boundary_text}"\r\n\r\n'.encode()
    try:
        recovered = BytesParser(policy=PARSE_POLICY).parsebytes(head + body)
    except Exception:
        return None
    if isinstance(recovered.get_payload(), list) and recovered.get_payload():
        return recovered
    return None


@dataclass
class _Walk:
    hints: tuple[str | None, ...]
    max_parts: int
    max_attachment_bytes: int
    count: int = 0
    text_part: Message | None = None
    html_part: Message | None = None
    attachments: list[ParsedAttachment] = field(default_factory=list)
    oversized: list[tuple[str, int]] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    reports: list[tuple[str, Message, str]] = field(default_factory=list)
    forwarded: list[tuple[Message, str]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)


def _walk(root: Message, walk: _Walk) -> None:
    stack: list[tuple[Message, str]] = [(root, "")]
    while stack:
        part, parent = stack.pop()
        walk.count += 1
        if walk.count > walk.max_parts:
            walk.defects.append(f"too many MIME parts; stopped after {walk.max_parts}")
            return
        try:
            ctype, params = _content_type(part, walk.hints)
            if ctype.startswith("multipart/"):
                children = part.get_payload()
                if not isinstance(children, list):
                    recovered = _recover_multipart(part, ctype)
                    if recovered is not None:
                        children = recovered.get_payload()
                if isinstance(children, list):
                    stack.extend(
                        (child, ctype) for child in reversed(children) if isinstance(child, Message)
                    )
                    continue
                # the structure is lost: read the body as plain text
                if isinstance(children, str) and children.strip():
                    walk.defects.append("the MIME structure is broken; the body is shown as sent")
                    if walk.text_part is None:
                        walk.text_part = part
                continue
            _leaf(part, ctype, params, parent, walk)
        except Exception as exc:  # one bad part never loses the others
            walk.defects.append(f"MIME part {walk.count} could not be read ({type(exc).__name__})")


def _leaf(part: Message, ctype: str, params: dict[str, str], parent: str, walk: _Walk) -> None:
    disposition_raw = _raw_header(part, "content-disposition")
    disposition, dparams = (
        header_params(disposition_raw, walk.hints) if disposition_raw else ("", {})
    )
    disposition = disposition.split()[0] if disposition.split() else ""
    filename = dparams.get("filename") or params.get("name") or ""
    cid_raw = _raw_header(part, "content-id")
    content_id = re.sub(r"[\s<>]", "", _unfold(cid_raw)) if cid_raw else ""
    maintype = ctype.split("/", 1)[0]
    if ctype in _REPORT_PARTS:
        walk.reports.append((ctype, part, parent))
        return
    if ctype in _MESSAGE_PARTS:
        content = _message_bytes(part)
        inner = part.get_payload()
        if _transfer_encoding(part) in ("base64", "quoted-printable"):
            with contextlib.suppress(Exception):
                inner = [BytesParser(policy=PARSE_POLICY).parsebytes(content, True)]
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            walk.forwarded.append((inner[0], parent))
        name = _safe_filename(filename)
        if not name.lower().endswith(".eml"):
            name = "forwarded.eml"
        _attach(walk, name, "message/rfc822", content, content_id, inline=False)
        return
    is_attachment = disposition == "attachment" or bool(filename) or maintype != "text"
    if not is_attachment:
        if ctype == "text/plain" and walk.text_part is None:
            walk.text_part = part
        elif ctype == "text/html" and walk.html_part is None:
            walk.html_part = part
        return
    content = _payload_bytes(part)
    name = _safe_filename(filename)
    if not name:
        location = _raw_header(part, "content-location")
        if location:
            name = _safe_filename(urllib.parse.unquote(one_line(location)).split("?", 1)[0])
    if not name:
        extension = mimetypes.guess_extension(ctype) or ".bin"
        stem = "image" if maintype == "image" else "attachment"
        name = f"{stem}-{len(walk.attachments) + len(walk.oversized) + 1}{extension}"
    inline = disposition == "inline" or (disposition != "attachment" and bool(content_id))
    _attach(walk, name, ctype, content, content_id, inline=inline)


def _attach(
    walk: _Walk, name: str, ctype: str, content: bytes, content_id: str, *, inline: bool
) -> None:
    if name in walk.names and name.startswith("forwarded") and name.endswith(".eml"):
        name = f"forwarded-{sum(1 for n in walk.names if n.startswith('forwarded')) + 1}.eml"
    walk.names.add(name)
    if len(content) > walk.max_attachment_bytes:
        walk.oversized.append((name, len(content)))
        return
    walk.attachments.append(
        ParsedAttachment(
            filename=name,
            content_type=ctype,
            content=content,
            content_id=content_id[:250],
            inline=inline,
        )
    )


def _part_text(part: Message, hints: tuple[str | None, ...], *, html: bool = False) -> str:
    _ctype, params = _content_type(part, hints)
    data = _payload_bytes(part)
    label = params.get("charset")
    if html and not label:
        meta = _META_CHARSET.search(data[:4096])
        if meta:
            label = meta.group(1).decode("ascii", "ignore")
    text = decode_bytes(data, label, hints)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not html and params.get("format", "").lower() == "flowed":
        text = _unflow(text, params.get("delsp", "").lower() == "yes")
    return text


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (those ending in a space)."""
    out: list[str] = []
    depth_now = -1
    buffer: str | None = None

    def emit() -> None:
        nonlocal buffer
        if buffer is not None:
            out.append(">" * depth_now + (" " if depth_now else "") + buffer)
            buffer = None

    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):
            body = body[1:]  # space-stuffing
        flowed = body.endswith(" ") and body != "-- "
        if flowed and delsp:
            body = body[:-1]
        if buffer is not None and depth != depth_now:
            emit()
        depth_now = depth
        buffer = (buffer or "") + body
        if not flowed:
            emit()
    emit()
    return "\n".join(out)
