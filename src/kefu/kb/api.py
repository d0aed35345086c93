"""``GET /api/kb/search``: the public knowledge-base search (published, public articles only).

No token: anyone may search the help center. Rate-limited per client address.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from kefu.core import ratelimit
from kefu.kb.models import SearchLog
from kefu.kb.search import MAX_LIMIT, log_search, search

router = Router(tags=["knowledge base"])

RATE_WINDOW = 60  # seconds


class SearchParams(Schema):
    q: str = Field("", max_length=1000, description="what the reader typed")
    lang: str = Field("", max_length=10, description="the reader's language: its articles first")
    limit: int = Field(10, ge=1, le=MAX_LIMIT)


class SearchResult(Schema):
    id: int
    score: float
    title: str
    snippet: str = Field(description="HTML-escaped text; matched terms in <mark>…</mark>")
    language: str


class SearchResponse(Schema):
    search_id: int | None = Field(description="pass it back when the reader opens a result")
    results: list[SearchResult]


@router.get("/search", auth=None, response=SearchResponse, url_name="kb-search")
def kb_search(request: HttpRequest, params: Query[SearchParams]) -> dict:
    """Published public articles matching ``q``, best first."""
    rate = int(getattr(settings, "KEFU_KB_SEARCH_RATE", 60))
    if not ratelimit.hit("kb-search", ratelimit.client_address(request.META), rate, RATE_WINDOW):
        raise HttpError(429, "too many searches; try again in a minute")
    language = params.lang if params.lang in dict(settings.LANGUAGES) else None
    hits = search(params.q, language=language, public_only=True, limit=params.limit)
    languages = dict(
        (h.article_id, lang)
        for h, lang in zip(hits, _languages([h.article_id for h in hits]), strict=True)
    )
    search_id = None
    if params.q.strip():
        search_id = log_search(
            params.q, source=SearchLog.Source.API, language=language or "", results=len(hits)
        )
    return {
        "search_id": search_id,
        "results": [
            {
                "id": h.article_id,
                "score": h.score,
                "title": h.title,
                "snippet": h.snippet,
                "language": languages[h.article_id],
            }
            for h in hits
        ],
    }


def _languages(article_ids: list[int]) -> list[str]:
    from kefu.kb.models import Article

    found = dict(Article.objects.filter(pk__in=article_ids).values_list("pk", "language"))
    return [found.get(pk, "") for pk in article_ids]
