"""Articles that may already answer what a customer wrote.

Apps that hold answers (the knowledge base) register a finder here from their
``AppConfig.ready``; channels ask (the email acknowledgment lists them) without importing that
app. With no finder registered, nothing is found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict


class Answer(TypedDict):
    title: str
    url: str


Finder = Callable[[str, str, int], list[Answer]]  # (customer's text, language, limit)

_finders: list[Finder] = []


def register(finder: Finder) -> Finder:
    if finder not in _finders:
        _finders.append(finder)
    return finder


def confident_answers(text: str, language: str, limit: int = 3) -> list[Answer]:
    """Public articles a finder is confident about (it decides what confident means)."""
    found: list[Answer] = []
    for finder in _finders:
        found += finder(text, language, limit)
        if len(found) >= limit:
            break
    return found[:limit]
