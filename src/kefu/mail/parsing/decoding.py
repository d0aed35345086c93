"""Decoding bytes whatever the label says, and repairing what real mail gets wrong."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable

from kefu.mail.parsing.charsets import (
    _CJK_CODECS,
    _SEVEN_BIT,
    _SINGLE_BYTE_LATIN,
    _strict,
    normalize_charset,
)
from kefu.mail.parsing.plausibility import _MOJIBAKE_UTF8, _best, _score, _undo_latin1


def _guess_chain(hints: Iterable[str | None]) -> list[str]:
    chain = ["utf-8"]
    for hint in hints:
        codec = normalize_charset(hint)
        if codec and codec not in chain and codec not in _SEVEN_BIT:
            chain.append(codec)
    for codec in ("gb18030", "big5hkscs", "cp1252"):
        if codec not in chain:
            chain.append(codec)
    return chain


def decode_bytes(data: bytes, label: str | None = None, hints: Iterable[str | None] = ()) -> str:
    """Decode text bytes whatever their label says, repairing what real mail gets wrong:
    GB2312/GBK read as GB18030, Big5 as Big5-HKSCS, UTF-8 under another label as UTF-8, a
    missing or unknown charset guessed (UTF-8, the hints, GB18030, Big5-HKSCS, windows-1252,
    Latin-1) by how plausible the result is, and CJK text that was once read as Latin-1 and
    re-encoded (double encoding) restored."""
    if not data:
        return ""
    hints = tuple(hints)
    codec = normalize_charset(label)
    if codec in _SEVEN_BIT:
        text = _strict(data, codec)
        if text is not None:
            return text
        codec = None
    if data.isascii():
        return data.decode("ascii")
    utf8 = _strict(data, "utf-8")
    if utf8 is not None:
        utf8 = utf8.lstrip("\ufeff")
        if codec not in (None, "utf-8") and _nonascii(data) <= 16:
            declared = _strict(data, codec)
            if declared is not None:  # a short string may be valid in both: compare
                return _repair_double(_best([(codec, declared), ("utf-8", utf8)]), codec, hints)
        return _repair_double(utf8, codec, hints)
    if codec is not None and codec != "utf-8":
        declared = _strict(data, codec)
        if declared is not None:
            if codec in _SINGLE_BYTE_LATIN and _nonascii(data) >= 4:
                return _second_opinion(data, declared, codec, hints)
            return _repair_double(declared, codec, hints)
    candidates: list[tuple[str, str]] = []
    for name in _guess_chain((label, *hints)):
        text = _strict(data, name)
        if text is not None:
            candidates.append((name, text))
    if codec is not None:
        with contextlib.suppress(Exception):
            candidates.append((codec, data.decode(codec, "replace")))
    candidates.append(("latin-1", data.decode("latin-1")))
    return _best(candidates)


def _nonascii(data: bytes) -> int:
    return len(data) - len(data.translate(None, bytes(range(128))))


def _second_opinion(data: bytes, declared: str, codec: str, hints: tuple[str | None, ...]) -> str:
    """Text labelled as a Latin charset that may really be Chinese (a common mislabel)."""
    sample = data[:8192]
    labelled = declared[: len(sample)] if len(declared) >= len(sample) else declared
    options: list[tuple[str, str]] = [(codec, labelled)]
    for name in _guess_chain(hints):
        if name in ("utf-8", "cp1252", codec):
            continue
        text = _strict(sample, name)
        if text is None and len(data) > len(sample):
            text = _strict(sample[:-1], name)  # the sample may cut a character in two
        if text is not None:
            options.append((name, text))
    if len(options) == 1:
        return declared
    winner = _best(options)
    if winner is labelled:
        return declared
    chosen = next(name for name, text in options if text is winner)
    if _score(labelled) - _score(winner) < 5:
        return declared
    return _strict(data, chosen) or declared


def _repair_double(text: str, codec: str | None, hints: tuple[str | None, ...]) -> str:
    """Undo double encoding: text whose characters are the bytes of CJK (or UTF-8) text read
    as Latin-1/windows-1252. Only tried when the text is all Latin-1-range characters."""
    if len(text) < 2 or _HIGH_BEYOND_CP1252.search(text):
        return text
    high = sum(1 for ch in text if ord(ch) >= 0x80)
    if high < 2:
        return text
    cjk_hint = codec in _CJK_CODECS or any(normalize_charset(h) in _CJK_CODECS for h in hints)
    if not cjk_hint and not _MOJIBAKE_UTF8.search(text):
        return text
    raw = _undo_latin1(text)
    if raw is None:
        return text
    options: list[tuple[str, str]] = []
    for name in _guess_chain((codec, *hints)):
        if name == "cp1252":
            continue
        decoded = _strict(raw, name)
        if decoded is not None:
            options.append((name, decoded))
    if not options:
        return text
    repaired = _best(options)
    if _score(text) - _score(repaired) >= 5:
        return repaired
    return text


_HIGH_BEYOND_CP1252 = re.compile(
    "[^\u0000-\u00ff\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152"
    "\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178]"
)
