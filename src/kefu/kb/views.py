"""Knowledge-base pages for agents: article suggestions beside a conversation and the report of
what readers searched for and did not find."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kefu.conversations.access import access_conversation
from kefu.conversations.models import Message
from kefu.core.http import HtmxRequest
from kefu.kb.helpcenter import absolute_url
from kefu.kb.helpcenter_access import agent_articles, pick, public_articles
from kefu.kb.models import Article, SearchLog
from kefu.staff.access import agent_profile
from kefu.staff.decorators import agent_required

PANEL_SIZE = 5
GAP_DAYS = 30


def conversation_query(conversation: Any) -> str:
    """What the customer asked: the subject and the last message they wrote."""
    last = (
        Message.objects.filter(conversation=conversation, direction=Message.Direction.IN)
        .order_by("-created_at", "-pk")
        .values_list("body_text", flat=True)
        .first()
    )
    text = f"{conversation.subject} {last or ''}"
    return " ".join(text.split())[:200]


def agent_suggestions(query: str, language: str, limit: int = PANEL_SIZE) -> list[dict[str, Any]]:
    """Published articles (internal ones too) for ``query``, one per group, in ``language``
    when that version exists."""
    from kefu.kb.search import search

    hits = search(query, language=language or None, public_only=False, limit=limit * 2)
    ids = [h.article_id for h in hits]
    found = {a.pk: a for a in agent_articles().filter(pk__in=ids).select_related("group")}
    group_ids = {a.group_id for a in found.values()}
    versions = {
        a.group_id: a
        for a in pick(
            list(found.values())
            + list(agent_articles().filter(group_id__in=group_ids).exclude(pk__in=ids)),
            language,
        )
    }
    public_ids = set(public_articles().filter(group_id__in=group_ids).values_list("pk", flat=True))
    items: list[dict[str, Any]] = []
    for hit in hits:
        article = found.get(hit.article_id)
        if article is None or any(i["article"].group_id == article.group_id for i in items):
            continue
        shown: Article = versions.get(article.group_id, article)
        public = shown.pk in public_ids
        items.append(
            {
                "article": shown,
                "snippet": hit.snippet if shown.pk == article.pk else shown.body_text[:140],
                "escaped": shown.pk == article.pk,
                "public": public,
                "link": absolute_url(shown) if public else "",
                "text": shown.body_text,
            }
        )
        if len(items) >= limit:
            break
    return items


@require_GET
@agent_required
def conversation_panel(request: HtmxRequest, pk: int) -> HttpResponse:
    """The "suggested articles" card beside a conversation (an HTMX fragment)."""
    conversation = access_conversation(request.user, pk)
    typed = " ".join(request.GET.get("q", "").split())[:200]
    query = typed or conversation_query(conversation)
    language = conversation.language or (getattr(request, "LANGUAGE_CODE", "") or "zh-hans")
    items = agent_suggestions(query, language) if query else []
    context = {"conversation": conversation, "items": items, "typed": typed}
    return render(request, "kb/_conversation_panel.html", context)


def sees_search_gaps(user: Any) -> bool:
    """Who reads what readers searched for: supervisors and administrators, and the agents who
    write the knowledge base (those allowed to change articles)."""
    profile = agent_profile(user)
    if profile is None:
        return False
    return profile.sees_all_teams or user.has_perm("kb.change_article")


@require_GET
@agent_required
def gaps(request: HtmxRequest) -> HttpResponse:
    """What readers searched for in the last 30 days and found nothing, or did not open.
    Readers' queries are the writers' and supervisors' business, not every agent's."""
    if not sees_search_gaps(request.user):
        raise PermissionDenied
    since = timezone.now() - timedelta(days=GAP_DAYS)
    logs = SearchLog.objects.filter(created_at__gte=since).exclude(source=SearchLog.Source.AGENT)

    def top(qs: Any) -> list[dict[str, Any]]:
        return list(
            qs.values("normalized")
            .annotate(n=Count("id"), example=Max("query"), last=Max("created_at"))
            .order_by("-n", "-last")[:50]
        )

    context = {
        "days": GAP_DAYS,
        "no_result": top(logs.filter(results=0)),
        "no_click": top(logs.filter(results__gt=0, clicked__isnull=True)),
        "totals": logs.aggregate(
            searches=Count("id"),
            empty=Count("id", filter=Q(results=0)),
            clicked=Count("id", filter=Q(clicked__isnull=False)),
        ),
    }
    return render(request, "kb/gaps.html", context)
