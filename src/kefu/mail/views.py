from __future__ import annotations

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from kefu.conversations.access import can_see
from kefu.core.http import HtmxRequest
from kefu.mail.models import InboundEmail
from kefu.staff.decorators import agent_required


@require_GET
@agent_required
def raw(request: HtmxRequest, pk: int) -> FileResponse:
    """The original message as it arrived, for agents who may see its conversation."""
    inbound = get_object_or_404(
        InboundEmail.objects.select_related("conversation_message__conversation"), pk=pk
    )
    message = inbound.conversation_message
    if message is None or not can_see(request.user, message.conversation):
        raise Http404
    response = FileResponse(
        inbound.raw.open("rb"), as_attachment=True, filename=f"email-{inbound.pk}.eml"
    )
    response["Content-Type"] = "application/octet-stream"
    return response
