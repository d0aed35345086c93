"""The knowledge base answers elsewhere: the chat widget's suggestions while a visitor types
(:mod:`kefu.livechat.suggest`) and the articles listed in an email acknowledgment
(:mod:`kefu.core.answers`). Registered from ``KbConfig.ready``."""

from __future__ import annotations

import logging
from typing import Any

from django.utils.html import strip_tags

from kefu.core import answers
from kefu.livechat import suggest as widget_suggest

logger = logging.getLogger(__name__)

CONFIDENT_COVERAGE = 0.6  # share of a title's (or phrasing's) words found in the customer's text


def _public_hits(text: str, language: str, limit: int, *, prefix: bool) -> list[dict[str, Any]]:
    from kefu.kb.helpcenter import public_hits

    return public_hits(text, language, suggest=prefix, limit=limit)


def _url(article: Any) -> str:
    from kefu.kb.helpcenter import absolute_url

    return absolute_url(article)


@widget_suggest.register
def widget_suggestions(widget: Any, text: str, language: str) -> list[widget_suggest.Suggestion]:
    """Public published articles for what the visitor is typing."""
    return [
        {"title": h["title"], "url": _url(h["article"]), "excerpt": strip_tags(h["snippet"])}
        for h in _public_hits(text, language, 3, prefix=True)
    ]


def coverage(article: Any, text: str) -> float:
    """How much of the article's title, or of its best other phrasing, the text contains."""
    from kefu.kb.text import tokens

    words = set(tokens(text[:2000]))
    best = 0.0
    for phrase in [article.title, *article.alternative_list]:
        wanted = set(tokens(phrase))
        if wanted:
            best = max(best, len(wanted & words) / len(wanted))
    return best


@answers.register
def confident_articles(text: str, language: str, limit: int) -> list[answers.Answer]:
    """Up to ``limit`` public articles, only while the best one clearly matches the text."""
    hits = _public_hits(" ".join(text.split())[:200], language, limit, prefix=False)
    if not hits or coverage(hits[0]["article"], text) < CONFIDENT_COVERAGE:
        return []
    return [{"title": h["title"], "url": _url(h["article"])} for h in hits[:limit]]
