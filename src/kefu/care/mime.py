"""Care's email as raw bytes, built without the ``email`` package's per-message work.

A campaign sends the same shape of message to every recipient: only the address, the
Message-ID, the subject, the bodies and the two personal links change. Python's ``email``
package re-parses and re-folds every header (RFC 2047 encoding of a Chinese subject costs
more than rendering the template), so the constant part (From, the MIME skeleton, the fixed
headers) is built once per process and shape, and each message only fills in:

- the subject, RFC 2047-encoded (UTF-8, base64 words of at most 39 bytes so no line passes
  78 characters) unless it is short printable ASCII;
- the bodies, base64 (no line of any length or byte can break the message, and the
  boundary holds ``_``, which base64 never produces, so it cannot occur in a body);
- Message-ID, Date (cached per second), To, List-Unsubscribe.

The result is what :func:`email.message_from_bytes` reads back as the same message Django's
``EmailMultiAlternatives`` would build (tests/care/test_mime.py compares them). Addresses
that are not plain ASCII go through Django instead (:func:`plain_address`).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

CRLF = b"\r\n"
# Per process; "_" is not in the base64 alphabet, so no encoded body can contain it.
BOUNDARY = f"=_kefu_care_{secrets.token_hex(8)}"
_PLAIN_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


def plain_address(address: str) -> bool:
    """True for an ASCII address with nothing a header could be tricked with."""
    return bool(_PLAIN_ADDRESS.match(address or ""))


def encode_words(value: str, *, budget: int = 39) -> str:
    """``value`` as a header value: itself if short printable ASCII, else RFC 2047 base64
    words (split between characters, never inside one) joined by folding whitespace."""
    value = " ".join(value.split())  # no CR/LF/TAB can reach a header
    if _PRINTABLE.match(value) and len(value) <= 66 and "=?" not in value:
        return value
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > budget:
            words.append(f"=?utf-8?b?{base64.b64encode(bytes(chunk)).decode('ascii')}?=")
            chunk.clear()
        chunk += encoded
    if chunk or not words:
        words.append(f"=?utf-8?b?{base64.b64encode(bytes(chunk)).decode('ascii')}?=")
    return "\r\n ".join(words)


@lru_cache(maxsize=32)
def from_header(from_email: str) -> tuple[str, str]:
    """(the From header's value, the envelope sender) for a ``DEFAULT_FROM_EMAIL`` value."""
    name, address = parseaddr(from_email)
    if not address:
        raise ValueError(f"invalid From address: {from_email!r}")
    if not name:
        return address, address
    return formataddr((name, address), charset="utf-8"), address


_date_cache: tuple[int, str] = (0, "")


def date_header() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, localtime=False))
    return _date_cache[1]


def _body(text: str, subtype: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n".encode("ascii")
        + base64.encodebytes(text.encode("utf-8")).replace(b"\n", CRLF)
    )


@lru_cache(maxsize=64)
def _constant_headers(from_value: str, extra: tuple[tuple[str, str], ...], html: bool) -> bytes:
    lines = [f"From: {from_value}", "MIME-Version: 1.0"]
    lines += [f"{name}: {value}" for name, value in extra]
    if html:
        lines.append(f'Content-Type: multipart/alternative; boundary="{BOUNDARY}"')
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def build(
    *,
    from_email: str,
    to: str,
    subject: str,
    message_id: str,
    text: str,
    html: str,
    unsubscribe_url: str,
    constant: tuple[tuple[str, str], ...],
) -> tuple[str, bytes]:
    """(envelope sender, the message's bytes with CRLF line ends). ``constant`` are headers
    the same for every message of a kind (ASCII)."""
    if not plain_address(to):
        raise ValueError(f"not a plain address: {to!r}")
    from_value, envelope = from_header(from_email)
    head = (
        f"To: {to}\r\n"
        f"Subject: {encode_words(subject)}\r\n"
        f"Date: {date_header()}\r\n"
        f"Message-ID: {message_id}\r\n"
        f"List-Unsubscribe: <{unsubscribe_url}>\r\n"
    ).encode("ascii")
    skeleton = _constant_headers(from_value, constant, bool(html))
    if not html:
        return envelope, head + skeleton + _body(text, "plain")
    boundary = BOUNDARY.encode("ascii")
    return envelope, b"".join(
        [
            head,
            skeleton,
            CRLF,
            b"--" + boundary + CRLF,
            _body(text, "plain"),
            b"--" + boundary + CRLF,
            _body(html, "html"),
            b"--" + boundary + b"--" + CRLF,
        ]
    )
