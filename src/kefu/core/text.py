"""Text helpers shared by channels: which language a customer wrote in."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def detect_language(text: str, default: str = "en") -> str:
    """ "zh-hans", "zh-hant" or "en" (for any text without Chinese characters), judged on the
    first few thousand characters: traditional if folding to simplified changes enough of them."""
    sample = "".join(CJK.findall(text[:4000]))
    if len(sample) < 2:
        return "en" if re.search(r"[A-Za-z]{3,}", text[:4000]) else default
    folded = _t2s().convert(sample)
    changed = sum(1 for a, b in zip(sample, folded, strict=False) if a != b)
    return "zh-hant" if changed >= max(1, len(sample) // 20) else "zh-hans"
