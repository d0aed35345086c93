"""Canned replies for the composer: ``/shortcut`` looks them up here."""

from __future__ import annotations

from django.db.models import Q
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from kefu.core.http import HtmxRequest
from kefu.service.models import CannedReply
from kefu.staff.access import agent_profile
from kefu.staff.decorators import agent_required


@require_GET
@agent_required
def canned(request: HtmxRequest) -> JsonResponse:
    """The canned replies this agent may use whose shortcut or title starts with ``q``."""
    profile = agent_profile(request.user)
    assert profile is not None
    q = request.GET.get("q", "").strip().lstrip("/")[:40]
    replies = CannedReply.objects.filter(active=True)
    if not profile.sees_all_teams:
        replies = replies.filter(Q(team__isnull=True) | Q(team__in=profile.teams.all()))
    if q:
        replies = replies.filter(Q(shortcut__istartswith=q) | Q(title__icontains=q))
    return JsonResponse(
        {
            "replies": [
                {"shortcut": r.shortcut, "title": r.title, "body": r.body}
                for r in replies.order_by("shortcut")[:20]
            ]
        }
    )
