"""The agents' knowledge-base workspace: the list of articles, the read view, and the editor
(new article, edit, translate, delete). Versions, files and import/export are in
``editor_tools``.

Every agent reads the published articles, internal ones included. Writing (and reading drafts
and archived articles) is for agents with the ``kb.change_article`` permission, and for
supervisors and administrators. Every change goes through ``kefu.kb.actions``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Max, Prefetch, Q, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kefu.core.errors import ActionError
from kefu.core.http import HtmxRequest
from kefu.kb import actions
from kefu.kb.editor_forms import (
    LANGUAGE_NAMES,
    ArticleForm,
    ContentForm,
    place_value,
)
from kefu.kb.helpcenter_access import LANGUAGE_ORDER, agent_articles, fallbacks
from kefu.kb.models import Article, ArticleGroup, Category
from kefu.staff.access import agent_profile
from kefu.staff.decorators import agent_required

PAGE_SIZE = 30
SEARCH_LIMIT = 200
Status = Article.Status

# Images and files in a body are stored with their help-center address (what readers load);
# agents read drafts and internal articles too, so their pages use the agents' address.
PUBLIC_FILE = re.compile(r"/help/files/(\d+)/(\d+)/")
AGENT_FILE = re.compile(r"/kb/(\d+)/files/(\d+)/")


def agent_html(html: str) -> str:
    return PUBLIC_FILE.sub(r"/kb/\1/files/\2/", html)


def stored_html(html: str) -> str:
    return AGENT_FILE.sub(r"/help/files/\1/\2/", html)


# Who may ------------------------------------------------------------------------------------


def may_write(user: Any) -> bool:
    """Writers: agents allowed to change articles, supervisors and administrators."""
    profile = agent_profile(user)
    return profile is not None and (profile.sees_all_teams or user.has_perm("kb.change_article"))


def may_delete(user: Any) -> bool:
    profile = agent_profile(user)
    return profile is not None and (profile.sees_all_teams or user.has_perm("kb.delete_article"))


def readable_articles(user: Any) -> QuerySet[Article]:
    """Writers read every article; other agents the published ones (internal included)."""
    return Article.objects.all() if may_write(user) else agent_articles()


def access_article(user: Any, pk: int, *, write: bool = False) -> Article:
    """The article ``pk`` as ``user`` may see it: 403 for a write by a reader, 404 for an
    article they may not read."""
    if write and not may_write(user):
        raise PermissionDenied
    found = (
        readable_articles(user)
        .select_related("group__category", "group__section", "author__agent_profile")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise Http404
    return found


# The list ------------------------------------------------------------------------------------


@dataclass
class Filters:
    q: str = ""
    status: str = ""
    language: str = ""
    category: str = ""
    kind: str = ""
    internal: str = ""

    @classmethod
    def parse(cls, data: Any, writer: bool) -> Filters:
        def one(name: str, allowed: Any) -> str:
            value = str(data.get(name, ""))
            return value if value in allowed else ""

        return cls(
            q=" ".join(str(data.get("q", "")).replace("\x00", "").split())[:200],
            status=one("status", Status.values) if writer else "",
            language=one("language", LANGUAGE_ORDER),
            category=one(
                "category", {str(pk) for pk in Category.objects.values_list("pk", flat=True)}
            ),
            kind=one("kind", Article.Kind.values),
            internal=one("internal", ("yes", "no")),
        )

    def apply(self, articles: QuerySet[Article]) -> QuerySet[Article]:
        if self.status:
            articles = articles.filter(status=self.status)
        if self.language:
            articles = articles.filter(language=self.language)
        if self.category:
            articles = articles.filter(group__category_id=int(self.category))
        if self.kind:
            articles = articles.filter(kind=self.kind)
        if self.internal:
            articles = articles.filter(group__internal=self.internal == "yes")
        return articles


def _matching_groups(filters: Filters, articles: QuerySet[Article], language: str) -> list[int]:
    """Groups whose articles match the query, best first: the search index (published
    articles, internal ones too), then the title, text or phrasings of the others."""
    from kefu.kb.search import search

    hits = search(filters.q, language=language, public_only=False, limit=SEARCH_LIMIT)
    ranked = [h.article_id for h in hits]
    allowed = dict(articles.filter(pk__in=ranked).values_list("pk", "group_id"))
    groups = [allowed[pk] for pk in ranked if pk in allowed]
    text = Q(title__icontains=filters.q) | Q(body_text__icontains=filters.q)
    text |= Q(alternatives__icontains=filters.q)
    groups += (
        articles.filter(text)
        .exclude(pk__in=ranked)
        .order_by("-updated_at")
        .values_list("group_id", flat=True)[:SEARCH_LIMIT]
    )
    return list(dict.fromkeys(groups))


def _rows(group_ids: list[int], articles: QuerySet[Article], user: Any, language: str) -> list[Any]:
    readable = readable_articles(user).select_related("author__agent_profile").order_by()
    groups = {
        g.pk: g
        for g in ArticleGroup.objects.filter(pk__in=group_ids)
        .select_related("category", "section")
        .prefetch_related(Prefetch("articles", queryset=readable), "articles__tags")
    }
    matching = set(articles.filter(group_id__in=group_ids).values_list("pk", flat=True))
    order = {code: i for i, code in enumerate(fallbacks(language))}
    rows = []
    for pk in group_ids:
        group = groups.get(pk)
        if group is None:
            continue
        versions = sorted(group.articles.all(), key=lambda a: order.get(a.language, 9))
        shown = next((a for a in versions if a.pk in matching), versions[0] if versions else None)
        if shown is None:
            continue
        by_language = {a.language: a for a in versions}
        rows.append(
            {
                "group": group,
                "article": shown,
                "languages": [(code, by_language.get(code)) for code in LANGUAGE_ORDER],
            }
        )
    return rows


@require_GET
@agent_required
def article_list(request: HtmxRequest) -> HttpResponse:
    writer = may_write(request.user)
    filters = Filters.parse(request.GET, writer)
    language = getattr(request, "LANGUAGE_CODE", "") or "zh-hans"
    articles = filters.apply(readable_articles(request.user))
    if filters.q:
        page = Paginator(_matching_groups(filters, articles, language), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
    else:
        ordered = (
            ArticleGroup.objects.filter(pk__in=articles.values("group_id"))
            .annotate(last=Max("articles__updated_at"))
            .order_by("-last", "-pk")
            .values_list("pk", flat=True)
        )
        page = Paginator(ordered, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "rows": _rows(list(page.object_list), articles, request.user, language),
        "filters": filters,
        "writer": writer,
        "statuses": Status.choices,
        "kinds": Article.Kind.choices,
        "languages": [(c, LANGUAGE_NAMES[c]) for c in LANGUAGE_ORDER],
        "categories": Category.objects.all(),
    }
    template = "kb/editor/_rows.html" if request.htmx else "kb/editor/list.html"
    return render(request, template, context)


# Reading -------------------------------------------------------------------------------------


def _siblings(article: Article, user: Any) -> list[tuple[str, Article | None]]:
    found = {a.language: a for a in readable_articles(user).filter(group_id=article.group_id)}
    return [(code, found.get(code)) for code in LANGUAGE_ORDER]


@require_GET
@agent_required
def article_view(request: HtmxRequest, pk: int) -> HttpResponse:
    """An article as agents read it (drafts and archived ones for writers only)."""
    article = access_article(request.user, pk)
    context = {
        "article": article,
        "body": agent_html(article.body_html),
        "siblings": _siblings(article, request.user),
        "attachments": list(article.attachments.all()),
        "tags": list(article.tags.values_list("name", flat=True)),
        "writer": may_write(request.user),
        "public": not article.group.internal
        and not (article.group.category and article.group.category.internal),
    }
    return render(request, "kb/editor/view.html", context)


# Writing -------------------------------------------------------------------------------------


def _editor(
    request: HtmxRequest, form: Any, article: Article | None, status: int = 200
) -> HttpResponse:
    from django.conf import settings

    context: dict[str, Any] = {
        "form": form,
        "article": article,
        "writer": True,
        "max_mb": settings.KEFU_MAX_ATTACHMENT_BYTES // (1024 * 1024),
    }
    if article is not None:
        context.update(
            siblings=_siblings(article, request.user),
            attachments=list(article.attachments.all()),
            versions=list(article.versions.select_related("author__agent_profile")[:50]),
            may_delete=may_delete(request.user),
        )
    return render(request, "kb/editor/edit.html", context, status=status)


@require_http_methods(["GET", "POST"])
@agent_required
def article_new(request: HtmxRequest) -> HttpResponse:
    if not may_write(request.user):
        raise PermissionDenied
    kind = request.GET.get("kind", "")
    initial = {
        "language": getattr(request, "LANGUAGE_CODE", "zh-hans"),
        "kind": kind if kind in Article.Kind.values else Article.Kind.ARTICLE,
    }
    form = ArticleForm(request.POST or None, new=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        then = request.POST.get("then", "")
        category, section = data["place"]
        try:
            article = actions.create_article(
                actor=request.user,
                title=data["title"],
                language=data["language"],
                body_html=data["body_html"],
                kind=data["kind"],
                category=category,
                section=section,
                internal=data["internal"],
                alternatives=data["alternatives"],
                tags=data["tags"],
                status=Status.PUBLISHED if then == Status.PUBLISHED else Status.DRAFT,
            )
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Article saved."))
            return redirect("kb:article_edit", pk=article.pk)
    return _editor(request, form, None, status=400 if request.method == "POST" else 200)


def _save(article: Article, data: dict[str, Any], then: str, actor: Any) -> Article:
    """Content, placement and status in one transaction; refused when someone saved a newer
    version since the editor was opened."""
    with transaction.atomic():
        locked = Article.objects.select_for_update().select_related("group").get(pk=article.pk)
        newest = locked.versions.aggregate(n=Max("number"))["n"] or 0
        base = data.get("base_version")
        if base and newest != base:
            raise ActionError(
                _(
                    "Someone saved version %(n)d of this article after you opened it. "
                    "Copy your text, reload the page and apply your changes again."
                )
                % {"n": newest}
            )
        locked = actions.update_article(
            locked,
            actor=actor,
            title=data["title"],
            body_html=stored_html(data["body_html"]),
            alternatives=data["alternatives"],
            kind=data["kind"],
            tags=data["tags"],
        )
        group = locked.group
        category, section = data["place"]
        wanted = (category.pk if category else None, section.pk if section else None)
        if (group.category_id, group.section_id, group.internal) != (*wanted, data["internal"]):
            actions.place(
                group, actor=actor, category=category, section=section, internal=data["internal"]
            )
        if then in Status.values:
            locked = actions.set_status(locked, then, actor=actor)
    return locked


@require_http_methods(["GET", "POST"])
@agent_required
def article_edit(request: HtmxRequest, pk: int) -> HttpResponse:
    article = access_article(request.user, pk, write=True)
    group = article.group
    initial = {
        "title": article.title,
        "body_html": agent_html(article.body_html),
        "alternatives": article.alternatives,
        "kind": article.kind,
        "place": place_value(group.category_id, group.section_id),
        "tags": ", ".join(article.tags.values_list("name", flat=True)),
        "internal": group.internal,
        "base_version": article.versions.aggregate(n=Max("number"))["n"] or 0,
    }
    form = ArticleForm(request.POST or None, new=False, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            article = _save(article, form.cleaned_data, request.POST.get("then", ""), request.user)
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Article saved."))
            return redirect("kb:article_edit", pk=article.pk)
    return _editor(request, form, article, status=400 if request.method == "POST" else 200)


@lru_cache(maxsize=2)
def _converter(config: str) -> Any:
    from opencc import OpenCC

    return OpenCC(config)


def prefill(source: Article, language: str) -> dict[str, str]:
    """A translation's first draft: simplified ↔ traditional converted by OpenCC, any other
    pair copied as it is, to be translated by hand."""
    fields = {
        "title": source.title,
        "body_html": agent_html(source.body_html),
        "alternatives": source.alternatives,
    }
    pair = (source.language, language)
    config = {("zh-hans", "zh-hant"): "s2t", ("zh-hant", "zh-hans"): "t2s"}.get(pair)
    if config:
        fields = {k: _converter(config).convert(v) for k, v in fields.items()}
    return fields


@require_http_methods(["GET", "POST"])
@agent_required
def article_translate(request: HtmxRequest, pk: int, language: str) -> HttpResponse:
    """Add the article in another language (same group, its own status)."""
    source = access_article(request.user, pk, write=True)
    if language not in LANGUAGE_ORDER:
        raise Http404
    existing = source.group.articles.filter(language=language).first()
    if existing is not None:
        return redirect("kb:article_edit", pk=existing.pk)
    siblings = list(source.group.articles.all())
    initial: dict[str, str] = {}
    chosen = request.GET.get("from", "")
    origin = next((a for a in siblings if str(a.pk) == chosen), None)
    if origin is not None:
        initial = prefill(origin, language)
    form = ContentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        then = request.POST.get("then", "")
        try:
            article = actions.add_translation(
                source,
                actor=request.user,
                language=language,
                title=data["title"],
                body_html=stored_html(data["body_html"]),
                alternatives=data["alternatives"],
                status=Status.PUBLISHED if then == Status.PUBLISHED else Status.DRAFT,
            )
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Translation saved."))
            return redirect("kb:article_edit", pk=article.pk)
    context = {
        "form": form,
        "source": source,
        "language": language,
        "language_name": LANGUAGE_NAMES[language],
        "siblings": sorted(siblings, key=lambda a: LANGUAGE_ORDER.index(a.language)),
        "origin": origin,
        "converts": {("zh-hans", "zh-hant"), ("zh-hant", "zh-hans")},
    }
    return render(
        request,
        "kb/editor/translate.html",
        context,
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@agent_required
def article_delete(request: HtmxRequest, pk: int) -> HttpResponse:
    """Delete one language version (the article goes with its last language)."""
    article = access_article(request.user, pk, write=True)
    if not may_delete(request.user):
        raise PermissionDenied
    actions.delete_article(article, actor=request.user)
    messages.success(request, _("Deleted “%(title)s”.") % {"title": article.title})
    return redirect("kb:articles")
