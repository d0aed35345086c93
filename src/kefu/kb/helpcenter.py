"""The public help center under ``/help/``: no login, published public articles only.

Views parse the request, read through :mod:`kefu.kb.helpcenter_access` (which never lets an
internal or unpublished article through) and call actions for what readers do (views,
feedback, the "still need help?" form).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kefu.core import ratelimit
from kefu.core.errors import ActionError
from kefu.kb import actions
from kefu.kb.forms import ContactForm
from kefu.kb.helpcenter_access import (
    access_public_article,
    pick,
    public_articles,
    public_categories,
    translations,
)
from kefu.kb.models import Article, Category, Feedback

logger = logging.getLogger(__name__)

LANGUAGES = [code for code, _name in settings.LANGUAGES]
MAX_QUERY = 200
FEEDBACK_SALT = "kefu.kb.feedback"


def help_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """``?lang=`` switches the reader's language (kept in Django's language cookie)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        chosen = request.GET.get("lang", "")
        if chosen in LANGUAGES:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        response = view(request, *args, **kwargs)
        if chosen in LANGUAGES:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME, chosen, max_age=365 * 86400, samesite="Lax"
            )
        return response

    return wrapper


def reader_language(request: HttpRequest) -> str:
    language = translation.get_language() or settings.LANGUAGE_CODE
    return language if language in LANGUAGES else settings.LANGUAGE_CODE


def absolute_url(article: Article) -> str:
    """The article's address for messages and emails: the site's base URL, the slug left
    readable (an IRI; mail clients and browsers show Chinese slugs as they are)."""
    from urllib.parse import unquote

    return settings.KEFU_BASE_URL.rstrip("/") + unquote(article_url(article))


def article_url(article: Article, **params: Any) -> str:
    url = reverse("kb:help_article", kwargs={"pk": article.pk, "slug": article.slug})
    query = "&".join(f"{k}={v}" for k, v in params.items() if v)
    return f"{url}?{query}" if query else url


def _listed(language: str, **filters: Any) -> list[Article]:
    """Public articles (one per group, in the reader's language when it exists)."""
    qs = public_articles().filter(**filters).select_related("group").order_by("-views", "pk")
    return pick(qs.only("pk", "slug", "title", "language", "group_id", "views", "kind"), language)


@require_GET
@help_page
def home(request: HttpRequest) -> HttpResponse:
    language = reader_language(request)
    articles = pick(
        public_articles()
        .select_related("group")
        .only("pk", "slug", "title", "language", "views", "kind", "group__category_id")
        .order_by("-views", "pk")[:2000],
        language,
    )
    by_category: dict[int | None, list[Article]] = {}
    for article in articles:
        by_category.setdefault(article.group.category_id, []).append(article)
    categories = [
        {"category": c, "name": c.name_in(language), "articles": by_category.get(c.pk, [])[:5],
         "count": len(by_category.get(c.pk, []))}
        for c in public_categories()
    ]  # fmt: skip
    context = {
        "language": language,
        "categories": [c for c in categories if c["count"]],
        "popular": articles[:8],
    }
    return render(request, "kb/help/home.html", context)


@require_GET
@help_page
def category(request: HttpRequest, slug: str) -> HttpResponse:
    language = reader_language(request)
    cat = get_object_or_404(public_categories(), slug=slug)
    articles = _listed(language, group__category=cat)
    sections: dict[int | None, list[Article]] = {}
    for article in articles:
        sections.setdefault(article.group.section_id, []).append(article)
    blocks = [
        {"name": s.name_in(language), "articles": sections.get(s.pk, [])}
        for s in cat.sections.all()
        if sections.get(s.pk)
    ]
    if sections.get(None):
        blocks.append({"name": "", "articles": sections[None]})
    context = {
        "language": language,
        "category": cat,
        "name": cat.name_in(language),
        "blocks": blocks,
    }
    return render(request, "kb/help/category.html", context)


@require_GET
@help_page
def article(request: HttpRequest, pk: int, slug: str) -> HttpResponseBase:
    item = access_public_article(pk)
    others = translations(item)
    chosen = request.GET.get("lang", "")
    if chosen in LANGUAGES and chosen != item.language:
        for other in others:
            if other.language == chosen:
                return redirect(article_url(other))
    if slug != item.slug:
        return redirect(article_url(item), permanent=True)
    log_id = request.GET.get("s", "")
    if log_id.isdigit():
        from kefu.kb.search import log_click

        log_click(int(log_id), item.pk)
    actions.record_view(item)
    language = reader_language(request)
    group = item.group
    related_filter: dict[str, Any] = (
        {"group__section_id": group.section_id}
        if group.section_id
        else {"group__category_id": group.category_id}
    )
    related = [a for a in _listed(language, **related_filter) if a.group_id != group.pk][:5]
    category = group.category
    context = {
        "language": language,
        "article": item,
        "translations": others,
        "related": related,
        "category": category,
        "category_name": category.name_in(language) if category else "",
        "section_name": group.section.name_in(language) if group.section else "",
        "description": item.body_text[:160],
        "attachments": list(item.attachments.all()),
    }
    return render(request, "kb/help/article.html", context)


@require_GET
def attachment(request: HttpRequest, pk: int, attachment_id: int) -> HttpResponseBase:
    """An article's file: images inline, everything else as a download."""
    from django.http import FileResponse

    item = access_public_article(pk)
    file = get_object_or_404(item.attachments, pk=attachment_id)
    inline = file.content_type in {"image/png", "image/jpeg", "image/gif", "image/webp"}
    response = FileResponse(
        file.file.open("rb"),
        as_attachment=not inline,
        filename=file.filename,
        content_type=file.content_type if inline else "application/octet-stream",
    )
    return response


def _client(request: HttpRequest) -> str:
    return ratelimit.client_address(request.META)


@require_POST
def feedback(request: HttpRequest, pk: int) -> HttpResponseBase:
    item = access_public_article(pk)
    answer = request.POST.get("helpful", "")
    if answer not in ("yes", "no"):
        return HttpResponse(status=400)
    if not ratelimit.hit("kb-feedback", _client(request), 30, 3600):
        return HttpResponse(status=429)
    vote = actions.give_feedback(
        item, helpful=answer == "yes", comment=request.POST.get("comment", "")
    )
    context = {
        "article": item,
        "voted": vote,
        "token": signing.dumps(vote.pk, salt=FEEDBACK_SALT),
    }
    if getattr(request, "htmx", False):
        return render(request, "kb/help/_feedback.html", context)
    return redirect(article_url(item) + "#feedback")


@require_POST
def feedback_comment(request: HttpRequest, token: str) -> HttpResponseBase:
    try:
        vote_id = signing.loads(token, salt=FEEDBACK_SALT, max_age=86400)
    except signing.BadSignature:
        raise Http404 from None
    vote = get_object_or_404(Feedback.objects.select_related("article"), pk=vote_id)
    actions.comment_feedback(vote, request.POST.get("comment", ""))
    context = {"article": vote.article, "voted": vote, "commented": True}
    if getattr(request, "htmx", False):
        return render(request, "kb/help/_feedback.html", context)
    return redirect(article_url(vote.article) + "#feedback")


def public_hits(query: str, language: str, *, suggest: bool, limit: int) -> list[dict[str, Any]]:
    """Search hits the public may see, one per group, in the reader's language if it exists."""
    from kefu.kb import search as engine

    try:
        if suggest:
            hits = engine.suggest(query, language=language, limit=limit)
        else:
            hits = engine.search(query, language=language, public_only=True, limit=limit)
    except Exception:  # a hostile query must never break the public page
        logger.exception("help center search failed for %r", query)
        return []
    ids = [h.article_id for h in hits]
    visible = {a.pk: a for a in public_articles().filter(pk__in=ids).select_related("group")}
    group_ids = {a.group_id for a in visible.values()}
    versions = pick(
        list(visible.values())
        + list(public_articles().filter(group_id__in=group_ids).exclude(pk__in=ids)),
        language,
    )
    chosen = {a.group_id: a for a in versions}
    found: list[dict[str, Any]] = []
    seen: set[int] = set()
    for hit in hits:
        hit_article = visible.get(hit.article_id)
        if hit_article is None or hit_article.group_id in seen:
            continue
        seen.add(hit_article.group_id)
        shown = chosen.get(hit_article.group_id, hit_article)
        same = shown.pk == hit_article.pk
        found.append(
            {
                "article": shown,
                "title": shown.title,
                "snippet": hit.snippet if same else str(escape(shown.body_text[:140])),
                "score": hit.score,
            }
        )
    return found


@require_GET
@help_page
def search(request: HttpRequest) -> HttpResponse:
    language = reader_language(request)
    query = " ".join(request.GET.get("q", "").replace("\x00", "").split())[:MAX_QUERY]
    results: list[dict[str, Any]] = []
    log_id = None
    if query:
        results = public_hits(query, language, suggest=False, limit=20)
        if ratelimit.hit("kb-search-log", _client(request), 60, 60):
            from kefu.kb.search import log_search

            log_id = log_search(query, source="help", language=language, results=len(results))
    for result in results:
        result["url"] = article_url(result["article"], s=log_id)
    context = {"language": language, "query": query, "results": results}
    return render(request, "kb/help/search.html", context)


@require_GET
def suggest(request: HttpRequest) -> JsonResponse:
    """As-you-type suggestions for the help center's search box (JSON)."""
    if not ratelimit.hit("kb-suggest", _client(request), 120, 60):
        return JsonResponse({"error": "rate_limited"}, status=429)
    language = reader_language(request)
    query = " ".join(request.GET.get("q", "").split())[:MAX_QUERY]
    if len(query) < 2:
        return JsonResponse({"articles": []})
    hits = public_hits(query, language, suggest=True, limit=6)
    return JsonResponse(
        {
            "articles": [
                {"title": h["title"], "url": article_url(h["article"]), "snippet": h["snippet"]}
                for h in hits
            ]
        }
    )


@require_http_methods(["GET", "POST"])
@help_page
def contact(request: HttpRequest) -> HttpResponse:
    """ "Still need help?": a web form that opens a conversation."""
    from kefu.conversations.actions import open_conversation
    from kefu.customers.actions import resolve_customer

    language = reader_language(request)
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            if form.cleaned_data["website"]:  # the honeypot: only robots fill it in
                return render(request, "kb/help/contact_done.html", {"language": language})
            if not ratelimit.hit("kb-contact", _client(request), 5, 3600):
                form.add_error(None, translation.gettext("Too many messages; try again later."))
            else:
                data = form.cleaned_data
                try:
                    customer = resolve_customer(email=data["email"], name=data["name"])
                    conversation = open_conversation(
                        customer=customer,
                        channel="web",
                        subject=data["subject"] or data["message"].splitlines()[0][:80],
                        body_text=data["message"],
                        language=language,
                        metadata={"source": "help center"},
                    )
                except ActionError as exc:
                    form.add_error(None, str(exc))
                else:
                    context = {"language": language, "conversation": conversation}
                    return render(request, "kb/help/contact_done.html", context)
    else:
        query = request.GET.get("q", "")[:MAX_QUERY]
        form = ContactForm(initial={"subject": query})
    return render(request, "kb/help/contact.html", {"language": language, "form": form})


@require_GET
def sitemap(request: HttpRequest) -> HttpResponse:
    """Published public articles and the categories that hold them."""
    base = f"{request.scheme}://{request.get_host()}"
    articles = public_articles().only("pk", "slug", "language", "updated_at").order_by("pk")
    categories = Category.objects.filter(internal=False, groups__articles__in=public_articles())
    context = {
        "base": base,
        "articles": articles,
        "categories": categories.distinct(),
        "home": reverse("kb:help"),
    }
    return render(request, "kb/help/sitemap.xml", context, content_type="application/xml")


ROBOTS = """User-agent: *
Allow: /help/
Allow: /sitemap.xml
Disallow: /
Sitemap: {sitemap}
"""


@require_GET
def robots(request: HttpRequest) -> HttpResponse:
    """Search engines may read the help center (and its sitemap), nothing else: not the agent
    workspace, the admin, the API or the customer portal."""
    sitemap = request.build_absolute_uri(reverse("kb:sitemap"))
    return HttpResponse(ROBOTS.format(sitemap=sitemap), content_type="text/plain; charset=utf-8")
