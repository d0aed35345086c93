"""The customer portal: a signed-in customer follows and answers their own conversations."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from kefu.conversations import actions
from kefu.conversations.access import access_conversation, visible_conversations
from kefu.conversations.models import Message
from kefu.core.errors import ActionError
from kefu.core.http import HtmxRequest
from kefu.staff.decorators import customer_required


@require_GET
@customer_required
def home(request: HtmxRequest) -> HttpResponse:
    conversations = visible_conversations(request.user).order_by("-last_message_at")
    return render(request, "portal/home.html", {"conversations": conversations})


@require_GET
@customer_required
def conversation(request: HtmxRequest, pk: int) -> HttpResponse:
    item = access_conversation(request.user, pk)
    messages = item.messages.exclude(direction=Message.Direction.NOTE).select_related(
        "author_agent__agent_profile"
    )
    return render(request, "portal/conversation.html", {"conversation": item, "messages": messages})


@require_POST
@customer_required
def reply(request: HtmxRequest, pk: int) -> HttpResponse:
    item = access_conversation(request.user, pk)
    body = request.POST.get("body", "")
    try:
        if item.takes_customer_replies:
            actions.receive_message(item, body_text=body, channel="web", actor=request.user)
        else:
            # Closed, or solved over KEFU_REOPEN_DAYS ago: as by email, the reply opens a
            # follow-up that names the conversation it follows.
            item = actions.open_conversation(
                customer=item.customer,
                channel="web",
                subject=item.subject,
                body_text=body,
                actor=request.user,
                team=item.team,
                kind=item.kind,
                language=item.language,
                metadata={"follow_up_of": item.pk},
            )
    except ActionError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    return redirect("portal_conversation", pk=item.pk)
