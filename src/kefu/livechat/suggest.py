"""The widget's "maybe this answers your question" hook.

While a visitor types their first question, the widget asks ``/chat/w/<key>/suggest?q=…``.
Apps that can answer (the knowledge base, once it exists) register a suggester here from their
``AppConfig.ready``; with none registered the widget simply shows nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

from kefu.livechat.models import Widget


class Suggestion(TypedDict):
    title: str
    url: str
    excerpt: str


Suggester = Callable[[Widget, str, str], list[Suggestion]]  # (widget, text, language)

_suggesters: list[Suggester] = []


def register(suggester: Suggester) -> Suggester:
    if suggester not in _suggesters:
        _suggesters.append(suggester)
    return suggester


def suggest(widget: Widget, text: str, language: str, limit: int = 3) -> list[Suggestion]:
    text = " ".join(text.split())[:200]
    if len(text) < 2:
        return []
    found: list[Suggestion] = []
    for suggester in _suggesters:
        found += suggester(widget, text, language)
        if len(found) >= limit:
            break
    return found[:limit]
