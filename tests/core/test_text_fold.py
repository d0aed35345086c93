"""`detect_language` folds traditional to simplified without OpenCC's slow search when no t2s
phrase occurs: the folded text must be exactly OpenCC's, on random runs of Chinese characters
(traditional, simplified, phrase keys mixed in) and on the benchmark's generated mail."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.core.text import CJK, _fold, _fold_tables, _t2s, detect_language

ROOT = Path(__file__).resolve().parents[2]


def _alphabet() -> list[str]:
    tables = _fold_tables()
    assert tables is not None, "OpenCC's t2s dictionaries changed shape: the fast path is off"
    pattern, characters = tables
    keys = pattern.pattern.replace("\\", "").split("|")
    raw_characters = _t2s()._dict_chain_data[0][1][2]
    several = {key for key, value in raw_characters.items() if " " in value}  # "綫" → "线 缐"
    chars = sorted({ch for key in keys for ch in key} | set(list(characters)[:400]) | several)
    return [ch for ch in chars if CJK.fullmatch(ch)] + list(
        "的了我你他们订单还没到问题請問訂單還沒"
    )


ALPHABET = _alphabet()
PHRASES = [k for k in _fold_tables()[0].pattern.replace("\\", "").split("|") if CJK.fullmatch(k[0])]  # type: ignore[index]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(ALPHABET), st.sampled_from(PHRASES)), min_size=0, max_size=60
    ).map("".join)
)
def test_folding_is_opencc_s(sample):
    sample = "".join(CJK.findall(sample))
    assert _fold(sample) == _t2s().convert(sample)


def test_generated_mail_folds_and_detects_as_before():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import mail_corpus
    finally:
        sys.path.pop(0)
    seen = set()
    for item in mail_corpus.stream(400, mail_corpus.SEED, corpus=None):
        text = f"{item.subject}\n{item.probe}\n{item.quoted}"
        sample = "".join(CJK.findall(text[:4000]))
        assert _fold(sample) == _t2s().convert(sample)
        folded = _t2s().convert(sample)
        changed = sum(1 for a, b in zip(sample, folded, strict=False) if a != b)
        expected = (
            ("en" if any(c.isascii() and c.isalpha() for c in text) else "zh-hans")
            if len(sample) < 2
            else ("zh-hant" if changed >= max(1, len(sample) // 20) else "zh-hans")
        )
        if len(sample) >= 2:
            assert detect_language(text) == expected
            seen.add(expected)
    assert seen == {"zh-hans", "zh-hant"}


def test_a_long_traditional_text_and_a_phrase():
    text = "請問我的訂單為什麼還沒有到？" * 300
    assert detect_language(text) == "zh-hant"
    assert detect_language("我的订单为什么还没有到？" * 300) == "zh-hans"
    phrase = PHRASES[0]
    assert _fold(phrase + "訂單") == _t2s().convert(phrase + "訂單")
