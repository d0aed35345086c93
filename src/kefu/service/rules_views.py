"""The rules' test mode: which routing and automation rules would act on a conversation, and
why (each condition with what the conversation has). Supervisors and administrators only;
nothing is changed."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kefu.conversations.access import visible_conversations
from kefu.core.http import HtmxRequest
from kefu.service.automation import explain
from kefu.service.models import Trigger
from kefu.service.rules_admin import is_supervisor
from kefu.staff.decorators import agent_required


def parse_reference(raw: str) -> int | None:
    raw = raw.strip().lstrip("#")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


@require_GET
@agent_required
def rules_test(request: HtmxRequest) -> HttpResponse:
    if not is_supervisor(request.user):
        raise PermissionDenied
    raw = request.GET.get("c", "")[:20]
    pk = parse_reference(raw)
    conversation = None
    groups = None
    if pk is not None:
        conversation = (
            visible_conversations(request.user)
            .select_related("customer", "team", "assignee")
            .filter(pk=pk)
            .first()
        )
        if conversation is not None:
            groups = explain(conversation)
    titles = {"routing:new": "routing_new", "routing:reopened": "routing_reopened"}
    return render(
        request,
        "service/rules_test.html",
        {
            "raw": raw,
            "conversation": conversation,
            "not_found": bool(raw) and conversation is None,
            "groups": [(titles.get(key, key), reports) for key, reports in (groups or {}).items()],
            "triggers": dict(Trigger.choices),
        },
    )
