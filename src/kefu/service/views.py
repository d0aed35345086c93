"""Canned replies for the composer: ``/shortcut`` looks them up here."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from kefu.core.http import HtmxRequest
from kefu.service import macros
from kefu.staff.decorators import agent_required


@require_GET
@agent_required
def canned(request: HtmxRequest) -> JsonResponse:
    """The macros this agent may use whose shortcut starts with (or title contains) ``q``:
    their own first, then the shared ones (kefu/service/macros.py)."""
    found = macros.usable_macros(request.user, request.GET.get("q", ""))[:20]
    return JsonResponse(
        {
            "replies": [
                {
                    "id": m.pk,
                    "shortcut": m.shortcut,
                    "title": m.title,
                    "body": m.body,
                    "personal": m.owner_id is not None,
                    "actions": macros.describe_actions(m),
                }
                for m in found
            ]
        }
    )
