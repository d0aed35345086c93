"""`header_line`'s fast path for plain ASCII values gives exactly what decoding and flattening
them gives (`one_line(decode_header_text(…))`): on random text with folding and controls, and
on every header of the shared corpus and of the benchmark's generated messages."""

from __future__ import annotations

import sys
from email import message_from_bytes
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.mail.parsing.headers import decode_header_text, header_line, one_line
from kefu.mail.parsing.mime import PARSE_POLICY

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "data" / "mail"

ASCII_WITH_CONTROLS = st.lists(
    st.sampled_from([chr(c) for c in range(0x80)] + ["\r\n ", "\r\n\t", "\n ", "=?", "?=", "  "]),
    max_size=120,
).map("".join)


def _slow(value: str, hints=(), limit: int = 0) -> str:
    return one_line(decode_header_text(value, hints), limit)


@settings(max_examples=500, deadline=None)
@given(ASCII_WITH_CONTROLS, st.sampled_from([0, 1, 7, 255]))
def test_the_fast_path_is_the_slow_path_on_ascii(value, limit):
    assert header_line(value, (), limit) == _slow(value, (), limit)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.sampled_from([(), ("gb2312",), ("big5",)]))
def test_any_text_gives_what_decoding_gives(value, hints):
    assert header_line(value, hints, 255) == _slow(value, hints, 255)


@pytest.mark.parametrize(
    "value",
    [
        "Sat, 21 Nov 2026 09:30:00 +0800",
        "from mx.example.cn (mx.example.cn [10.0.0.1])\r\n\tby kefu.test with ESMTPS;\r\n Sat",
        "=?utf-8?b?5L2g5aW9?= world",
        "\x00bad\x7fvalue\x1f",
        "  leading and trailing  ",
    ],
)
def test_examples(value):
    assert header_line(value) == _slow(value)


def _messages() -> list[bytes]:
    raws = [p.read_bytes() for p in sorted(CORPUS.rglob("*.eml"))] if CORPUS.exists() else []
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import mail_corpus  # the benchmark's generator: legacy charsets, RFC 2047/2231 names
    finally:
        sys.path.pop(0)
    raws += [item.raw for item in mail_corpus.stream(300, mail_corpus.SEED, corpus=None)]
    return raws


def test_every_header_of_real_and_generated_mail():
    checked = 0
    for raw in _messages():
        message = message_from_bytes(raw, policy=PARSE_POLICY)
        for part in message.walk():
            for _name, value in part.raw_items():
                value = str(value)
                assert header_line(value, ("gb2312",), 4000) == _slow(value, ("gb2312",), 4000)
                checked += 1
    assert checked > 1000
