"""Who may read which article, and which language version a reader gets.

The public (help center, sitemap, widget, public search) sees only published articles whose
group and category are not for agents only. Agents see every published article, internal ones
included. Drafts and archived articles are for the editors (the admin) alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet
from django.http import Http404

from kefu.kb.models import Article, Category

LANGUAGE_ORDER = ("zh-hans", "zh-hant", "en")


def public_articles() -> QuerySet[Article]:
    return Article.objects.filter(
        status=Article.Status.PUBLISHED,
        group__internal=False,
    ).exclude(Q(group__category__internal=True))


def agent_articles() -> QuerySet[Article]:
    return Article.objects.filter(status=Article.Status.PUBLISHED)


def public_categories() -> QuerySet[Category]:
    return Category.objects.filter(internal=False)


def access_public_article(pk: int) -> Article:
    """The article ``pk`` if the public may read it; 404 otherwise (drafts, internal)."""
    try:
        return public_articles().select_related("group__category", "group__section").get(pk=pk)
    except Article.DoesNotExist as exc:
        raise Http404 from exc


def fallbacks(language: str) -> tuple[str, ...]:
    """The reader's language first, then the other Chinese script, then the rest."""
    if language == "zh-hant":
        return ("zh-hant", "zh-hans", "en")
    if language == "en":
        return ("en", "zh-hans", "zh-hant")
    return ("zh-hans", "zh-hant", "en")


def pick(articles: Iterable[Article], language: str) -> list[Article]:
    """One article per group: the version in the reader's language when it exists, else the
    nearest (simplified for traditional readers and vice versa). Keeps the input order of the
    first version seen of each group."""
    order = {code: i for i, code in enumerate(fallbacks(language))}
    best: dict[int, Article] = {}
    position: dict[int, int] = {}
    for i, article in enumerate(articles):
        current = best.get(article.group_id)
        position.setdefault(article.group_id, i)
        if current is None or order.get(article.language, 9) < order.get(current.language, 9):
            best[article.group_id] = article
    return [best[g] for g in sorted(best, key=position.__getitem__)]


def translations(article: Article, qs: QuerySet[Article] | None = None) -> list[Article]:
    """The other language versions of ``article`` that ``qs`` (default: public) allows."""
    qs = public_articles() if qs is None else qs
    found = list(qs.filter(group_id=article.group_id).exclude(pk=article.pk))
    return sorted(found, key=lambda a: LANGUAGE_ORDER.index(a.language))
