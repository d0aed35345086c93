"""Search text: folding and segmentation, the same for what is indexed and what is asked.

``normalize`` folds traditional to simplified Chinese (opencc), full-width to half-width (NFKC)
and case; ``tokens`` segments the folded text with jieba in search mode (whole words plus the
dictionary words inside them), keeps only letters and digits and stems English lightly, so
"Refunds", "ＲＥＦＵＮＤ" and "refunded" all index as ``refund``.

The lexicon (the admin's dictionary words and synonym groups) is loaded lazily, once per process,
and reloaded when :func:`lexicon_changed` bumps its version in the cache (every process checks
the version at most every few seconds).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from kefu.core.text import _t2s

# Runs of letters and digits (any script); everything else separates tokens.
WORD = re.compile(r"[^\W_]+")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LEXICON_KEY = "kb:lexicon-version"
LEXICON_CHECK_SECONDS = 3.0

_lock = threading.RLock()


def normalize(text: str) -> str:
    """Traditional → simplified, full-width → half-width (NFKC), case folded."""
    if not text:
        return ""
    return unicodedata.normalize("NFKC", _t2s().convert(text)).casefold()


def stem(word: str) -> str:
    """A light English stemmer: plurals only (refunds → refund, charges → charge, fees → fee).
    Stripping -ed / -ing as well cost accuracy on BANKING77 (docs/benchmarks.md). Words of
    other scripts are left alone."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@dataclass
class Lexicon:
    words: set[str] = field(default_factory=set)
    # normalized term → the token tuples of every term of its group (itself included)
    synonyms: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    version: Any = None
    checked_at: float = 0.0


_lexicon = Lexicon()
_jieba: Any = None


def _tokenizer() -> Any:
    """jieba's tokenizer, its dictionary loaded once per process (about a second)."""
    global _jieba
    if _jieba is None:
        with _lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _jieba = tokenizer
    return _jieba


def _segment(text: str) -> list[str]:
    out: list[str] = []
    for piece in _tokenizer().cut_for_search(text, HMM=True):
        for word in WORD.findall(piece):
            out.append(stem(word) if word.isascii() else word)
    return out


def tokens(text: str) -> list[str]:
    """Normalized, segmented tokens of ``text`` in order (search mode: a long word is followed
    by the shorter dictionary words inside it). Punctuation and spaces are dropped."""
    folded = normalize(text)
    if not folded.strip():
        return []
    _refresh_lexicon()
    return _segment(folded)


def expand(words: list[str]) -> list[list[str]]:
    """Synonyms of a token list: every other term of a synonym group whose term occurs in
    ``words`` (as a run of its tokens), each as its own token list."""
    _refresh_lexicon()
    if not _lexicon.synonyms or not words:
        return []
    joined = " " + " ".join(words) + " "
    found: list[list[str]] = []
    seen: set[tuple[str, ...]] = {(w,) for w in words}
    for term, group in _lexicon.synonyms.items():
        if f" {term} " not in joined:
            continue
        for other in group:
            if other not in seen:
                seen.add(other)
                found.append(list(other))
    return found


def lexicon_changed() -> None:
    """Dictionary words or synonyms changed: every process reloads them on its next search."""
    from django.core.cache import cache

    cache.set(LEXICON_KEY, time.time_ns(), timeout=None)
    _lexicon.checked_at = 0.0


def _refresh_lexicon() -> None:
    now = time.monotonic()
    if _lexicon.checked_at and now - _lexicon.checked_at < LEXICON_CHECK_SECONDS:
        return
    from django.core.cache import cache

    version = cache.get(LEXICON_KEY, 0)
    _lexicon.checked_at = now
    if version == _lexicon.version:
        return
    with _lock:
        _load_lexicon(version)


def _load_lexicon(version: Any) -> None:
    from kefu.kb.models import DictionaryWord, Synonym

    tokenizer = _tokenizer()
    words: dict[str, int | None] = {}
    for word, frequency in DictionaryWord.objects.values_list("word", "frequency"):
        folded = normalize(word).strip()
        if folded and " " not in folded:
            words[folded] = frequency
    for gone in _lexicon.words - words.keys():
        tokenizer.del_word(gone)
    for word, frequency in words.items():
        # A user word must beat the split jieba would otherwise choose.
        tokenizer.add_word(
            word, freq=frequency or max(tokenizer.suggest_freq(word, tune=False), 10)
        )
    _lexicon.words = set(words)
    synonyms: dict[str, list[tuple[str, ...]]] = {}
    for terms in Synonym.objects.values_list("terms", flat=True):
        group = [tuple(_segment(normalize(t))) for t in Synonym(terms=terms).term_list]
        group = [g for g in group if g]
        for term in group:
            synonyms.setdefault(" ".join(term), []).extend(g for g in group if g != term)
    _lexicon.synonyms = synonyms
    _lexicon.version = version


def has_cjk(text: str) -> bool:
    return bool(CJK.search(text))
