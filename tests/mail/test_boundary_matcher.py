"""The multipart boundary matcher kefu gives ``email.feedparser`` instead of a regular
expression compiled per message: the same answers as that expression, line by line, and the
same parse of real and generated mail with it as without it."""

from __future__ import annotations

import email.feedparser
import re
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.mail.parsing import mime, parse

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "data" / "mail"


def _stdlib(separator: str) -> re.Pattern[str]:
    # what email.feedparser compiles (Python 3.11)
    return re.compile(
        "(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
    )


BOUNDARIES = st.text(
    alphabet=st.sampled_from([*list("abcXYZ019=_-.:+/()?'\" \t*[]{}^$|\\"), "é", "\u3000"]),
    min_size=1,
    max_size=30,
)
TAILS = st.lists(
    st.sampled_from(["", "--", " ", "\t", "\r\n", "\n", "\r", "x", "--\r\n", " \r\n", "-"]),
    max_size=4,
).map("".join)


@settings(max_examples=600, deadline=None)
@given(BOUNDARIES, TAILS, st.sampled_from(["", "x", " ", "--", "\r\n"]))
def test_the_matcher_answers_as_the_regular_expression(boundary, tail, prefix):
    separator = "--" + boundary
    ours = email.feedparser.re.compile(_stdlib(separator).pattern)
    assert isinstance(ours, mime._BoundaryMatcher)
    theirs = _stdlib(separator)
    for line in (prefix + separator + tail, separator + tail, separator[:-1] + tail):
        a, b = ours.match(line), theirs.match(line)
        assert (a is None) == (b is None), line
        if a is not None and b is not None:
            assert a.group("end") == b.group("end") and a.group("linesep") == b.group("linesep")
            assert a.group("ws") == b.group("ws")


def test_other_patterns_are_compiled_as_usual():
    shim = email.feedparser.re
    assert shim.compile(r"(\r\n|\r|\n)\Z") is re.compile(r"(\r\n|\r|\n)\Z")
    assert shim.escape("a.b") == re.escape("a.b")
    assert shim.compile("(?P<sep>x)", re.I).flags & re.I


def _messages() -> list[bytes]:
    raws = [p.read_bytes() for p in sorted(CORPUS.rglob("*.eml"))] if CORPUS.exists() else []
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import mail_corpus
    finally:
        sys.path.pop(0)
    return raws + [item.raw for item in mail_corpus.stream(400, mail_corpus.SEED, corpus=None)]


def test_real_and_generated_mail_parse_the_same_with_and_without_it(monkeypatch):
    raws = _messages()
    ours = [parse(raw) for raw in raws]
    monkeypatch.setattr(email.feedparser, "re", re)
    theirs = [parse(raw) for raw in raws]
    assert sum(b"multipart/" in raw for raw in raws) > 100
    assert ours == theirs
