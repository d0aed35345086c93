"""Agent workspace pages: parse the request, call an action, render a page or fragment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from kefu.conversations import actions
from kefu.conversations.access import access_conversation
from kefu.conversations.inbox import FILTERS, VIEWS, InboxQuery, view_counts
from kefu.conversations.models import Attachment, Channel, Kind, Message, Priority, Status
from kefu.conversations.thread import thread_items
from kefu.core.errors import ActionError
from kefu.core.http import HtmxRequest
from kefu.core.models import Tag
from kefu.customers.models import Tier
from kefu.staff.access import agent_profile
from kefu.staff.decorators import agent_required
from kefu.staff.models import AgentProfile, Team

INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def bad_request(message: str) -> HttpResponse:
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


@require_GET
def home(request: HtmxRequest) -> HttpResponse:
    """Where signing in lands: agents in the inbox, customers in their portal."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if agent_profile(request.user) is not None:
        return redirect("inbox")
    if getattr(request.user, "customer", None) is not None:
        return redirect("portal")
    raise PermissionDenied


@require_GET
@agent_required
def inbox(request: HtmxRequest) -> HttpResponse:
    query = InboxQuery.from_params(request.GET)
    page = Paginator(query.queryset(request.user), 50).get_page(request.GET.get("page"))
    context = {
        "query": query,
        "page": page,
        "conversations": page.object_list,
        "views": VIEWS,
        "counts": view_counts(request.user),
        "filter_names": FILTERS,
        "choices": {
            "status": Status.choices,
            "priority": Priority.choices,
            "kind": Kind.choices,
            "tier": Tier.choices,
            "channel": Channel.choices,
        },
        "tags": Tag.objects.all(),
    }
    if not request.htmx:  # the bulk-action bar
        context["agents"] = (
            AgentProfile.objects.filter(user__is_active=True)
            .select_related("user")
            .order_by("display_name", "user__username")
        )
        context["teams"] = Team.objects.all()
    template = "conversations/_inbox_list.html" if request.htmx else "conversations/inbox.html"
    return render(request, template, context)


def _assignable(conversation: Any) -> tuple[Any, Any]:
    agents = (
        AgentProfile.objects.filter(user__is_active=True)
        .select_related("user")
        .order_by("display_name", "user__username")
    )
    if conversation.team_id:
        agents = agents.filter(teams=conversation.team_id) | agents.filter(
            role__in=[AgentProfile.Role.SUPERVISOR, AgentProfile.Role.ADMIN]
        )
    return agents.distinct(), Team.objects.all()


def _props_context(request: HtmxRequest, conversation: Any) -> dict[str, Any]:
    from kefu.conversations.complaints import root_causes
    from kefu.conversations.links import linked_conversations

    agents, teams = _assignable(conversation)
    return {
        "linked": list(linked_conversations(conversation, request.user)),
        "root_causes": list(root_causes()) if conversation.is_complaint else [],
        "conversation": conversation,
        "agents": agents,
        "teams": teams,
        "statuses": Status.choices,
        "priorities": Priority.choices,
        "kinds": Kind.choices,
        "conversation_tags": list(conversation.tags.all()),
        "all_tags": Tag.objects.all(),
    }


@require_GET
@agent_required
def conversation_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    from kefu.customers.views import customer_panel_context

    conversation = access_conversation(request.user, pk)
    context = {
        **_props_context(request, conversation),
        "items": thread_items(conversation),
        **customer_panel_context(request, conversation.customer, current=conversation),
    }
    return render(request, "conversations/detail.html", context)


@require_GET
@agent_required
def props(request: HtmxRequest, pk: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    return render(request, "conversations/_props.html", _props_context(request, conversation))


def _message_response(request: HtmxRequest, message: Message, conversation: Any) -> HttpResponse:
    if request.htmx:
        return render(request, "conversations/_message.html", {"message": message})
    return redirect("conversation", pk=conversation.pk)


def _props_response(request: HtmxRequest, conversation: Any) -> HttpResponse:
    if request.htmx:
        conversation = access_conversation(request.user, conversation.pk)
        return render(request, "conversations/_props.html", _props_context(request, conversation))
    return redirect("conversation", pk=conversation.pk)


def _files(request: HtmxRequest) -> list[actions.NewAttachment]:
    return [
        actions.NewAttachment(
            filename=f.name or "attachment",
            content=f.read(),
            content_type=f.content_type or "application/octet-stream",
        )
        for f in request.FILES.getlist("attachments")
    ]


@require_POST
@agent_required
def reply(request: HtmxRequest, pk: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    status = request.POST.get("status") or None
    try:
        message = actions.send_reply(
            conversation,
            agent=request.user,
            body_text=request.POST.get("body", ""),
            status=status,
            attachments=_files(request),
        )
    except ActionError as exc:
        return bad_request(str(exc))
    return _message_response(request, message, conversation)


@require_POST
@agent_required
def note(request: HtmxRequest, pk: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    try:
        message = actions.add_note(
            conversation, agent=request.user, body_text=request.POST.get("body", "")
        )
    except ActionError as exc:
        return bad_request(str(exc))
    return _message_response(request, message, conversation)


def _int_or_none(value: str | None) -> int | None:
    if value in (None, "", "none"):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ActionError(f"not a valid id: {value!r}") from exc


@require_POST
@agent_required
def assign(request: HtmxRequest, pk: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    User = get_user_model()
    assignee: Any
    try:
        if request.POST.get("assignee") == "me":
            assignee = request.user
        else:
            assignee_id = _int_or_none(request.POST.get("assignee"))
            assignee = User.objects.filter(pk=assignee_id).first() if assignee_id else None
            if assignee_id and assignee is None:
                raise ActionError("no such agent")
        if "team" in request.POST:
            team_id = _int_or_none(request.POST.get("team"))
            team = Team.objects.filter(pk=team_id).first() if team_id else None
            if team_id and team is None:
                raise ActionError("no such team")
        else:
            team = conversation.team
        actions.assign(conversation, actor=request.user, assignee=assignee, team=team)
    except ActionError as exc:
        return bad_request(str(exc))
    return _props_response(request, conversation)


@require_POST
@agent_required
def change(request: HtmxRequest, pk: int, field: str) -> HttpResponse:
    """Status, priority or kind: one small form each, one action each."""
    conversation = access_conversation(request.user, pk)
    value = request.POST.get(field, "")
    doors: dict[str, Callable[..., Any]] = {
        "status": actions.set_status,
        "priority": actions.set_priority,
        "kind": actions.set_kind,
    }
    door = doors[field]
    try:
        door(conversation, actor=request.user, **{field: value})
    except ActionError as exc:
        return bad_request(str(exc))
    return _props_response(request, conversation)


@require_POST
@agent_required
def tags(request: HtmxRequest, pk: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    add = [t for t in request.POST.get("add", "").replace("，", ",").split(",") if t.strip()]
    remove = [t for t in request.POST.getlist("remove") if t.strip()]
    try:
        actions.tag(conversation, actor=request.user, add=add, remove=remove)
    except ActionError as exc:
        return bad_request(str(exc))
    return _props_response(request, conversation)


@require_POST
@agent_required
def merge(request: HtmxRequest, pk: int) -> HttpResponse:
    source = access_conversation(request.user, pk)
    try:
        target_id = _int_or_none(request.POST.get("target", "").lstrip("#"))
        if target_id is None:
            raise ActionError("give the number of the conversation to merge into")
        target = access_conversation(request.user, target_id)
        actions.merge_conversations(source, target, actor=request.user)
    except ActionError as exc:
        return bad_request(str(exc))
    response: HttpResponse = redirect("conversation", pk=target.pk)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = f"/c/{target.pk}/"
    return response


@require_GET
@agent_required
def attachment(request: HtmxRequest, pk: int, attachment_id: int) -> HttpResponseBase:
    """Attachments are always downloads, never rendered inline (no stored XSS via uploads)."""
    conversation = access_conversation(request.user, pk)
    item = get_object_or_404(Attachment, pk=attachment_id, message__conversation=conversation)
    if request.GET.get("inline") and item.content_type in INLINE_IMAGE_TYPES:
        # Inline images (cid:) in an email: raster images only, never SVG or HTML.
        response = FileResponse(item.file.open("rb"), content_type=item.content_type)
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    else:
        response = FileResponse(item.file.open("rb"), as_attachment=True, filename=item.filename)
        response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@agent_required
def message_fragment(request: HtmxRequest, pk: int, message_id: int) -> HttpResponse:
    conversation = access_conversation(request.user, pk)
    message = get_object_or_404(
        Message.objects.select_related("author_agent__agent_profile", "author_customer"),
        pk=message_id,
        conversation=conversation,
    )
    return render(request, "conversations/_message.html", {"message": message})
