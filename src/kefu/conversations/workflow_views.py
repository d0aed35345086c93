"""Workspace pages for split, links, bulk actions and complaints: parse, call one action
(kefu/conversations/split.py, links.py, bulk.py, complaints.py), render."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.conversations import bulk, complaints, links, split
from kefu.conversations.access import access_conversation
from kefu.conversations.views import _int_or_none, _props_response, bad_request
from kefu.core.errors import ActionError
from kefu.core.http import HtmxRequest
from kefu.staff.access import agent_profile
from kefu.staff.decorators import agent_required


def _go(request: HtmxRequest, pk: int) -> HttpResponse:
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = f"/c/{pk}/"
        return response
    return redirect("conversation", pk=pk)


@require_POST
@agent_required
def split_view(request: HtmxRequest, pk: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    try:
        message_id = _int_or_none(request.POST.get("message"))
        if message_id is None:
            raise ActionError("choose the message to split from")
        new = split.split_conversation(
            conversation,
            actor=request.user,
            message_id=message_id,
            subject=request.POST.get("subject", ""),
        )
    except ActionError as exc:
        return bad_request(str(exc))
    return _go(request, new.pk)


@require_POST
@agent_required
def link(request: HtmxRequest, pk: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    try:
        other_id = _int_or_none(request.POST.get("target", "").strip().lstrip("#"))
        if other_id is None:
            raise ActionError("give the number of the related conversation")
        other = access_conversation(request.user, other_id)
        links.link_conversations(conversation, other, actor=request.user)
    except ActionError as exc:
        return bad_request(str(exc))
    return _props_response(request, conversation)


@require_POST
@agent_required
def unlink(request: HtmxRequest, pk: int, other: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    other_conversation = access_conversation(request.user, other)
    try:
        links.unlink_conversations(conversation, other_conversation, actor=request.user)
    except ActionError as exc:
        return bad_request(str(exc))
    return _props_response(request, conversation)


@require_POST
@agent_required
def acknowledge(request: HtmxRequest, pk: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    try:
        complaints.acknowledge_complaint(conversation, actor=request.user)
    except ActionError as exc:
        return bad_request(str(exc))
    return _props_response(request, conversation)


@require_POST
@agent_required
def resolve(request: HtmxRequest, pk: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    try:
        complaints.resolve_complaint(
            conversation,
            actor=request.user,
            note=request.POST.get("note", ""),
            root_cause=_int_or_none(request.POST.get("root_cause")),
            solve=request.POST.get("solve", "1") != "0",
        )
    except ActionError as exc:
        return bad_request(str(exc))
    return _props_response(request, conversation)


@require_POST
@agent_required
def bulk_view(request: HtmxRequest) -> HttpResponse:
    """Apply one change to the selected conversations; answers with a summary that names each
    conversation that could not be changed and why."""
    try:
        ids = bulk.parse_ids(request.POST.getlist("ids"))
        operation = request.POST.get("op", "")
        # One select per operation in the inbox's bar (``value_status``…), or plain ``value``.
        value = request.POST.get(f"value_{operation}", request.POST.get("value", ""))
        result = bulk.bulk_apply(request.user, ids, operation, value)
    except ActionError as exc:
        return bad_request(str(exc))
    response = render(request, "conversations/_bulk_result.html", {"result": result})
    response["HX-Trigger"] = "kefu:inbox-changed"
    return response


@require_GET
@agent_required
def complaints_view(request: HtmxRequest) -> HttpResponse:
    """Supervisors' view of every open complaint: age, SLA due, acknowledged or not."""
    profile = agent_profile(request.user)
    if profile is None or not profile.sees_all_teams:
        raise PermissionDenied(_("Only supervisors and admins see all open complaints."))
    rows = list(complaints.open_complaints(request.user)[:500])
    return render(
        request,
        "conversations/complaints.html",
        {"complaints": rows, "unacknowledged": sum(1 for c in rows if c.acknowledged_at is None)},
    )
