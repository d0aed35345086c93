"""The widget's HTTP side (loader, iframe page, JSON endpoints) and the agents' chat controls.

Visitor endpoints are authenticated by the signed visitor token in ``X-Kefu-Visitor`` (not by
cookies, which third-party iframes often lose), so they are CSRF-exempt by design.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core import signing
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from kefu.conversations.access import access_conversation
from kefu.conversations.actions import NewAttachment
from kefu.conversations.models import Attachment
from kefu.core import ratelimit
from kefu.core.errors import ActionError
from kefu.core.http import HtmxRequest
from kefu.livechat import actions, routing
from kefu.livechat.identity import sign_identity, verify_identity, visitor_from_token, visitor_token
from kefu.livechat.models import ChatSession, Visitor, Widget
from kefu.livechat.payloads import FILE_SALT
from kefu.livechat.suggest import suggest
from kefu.livechat.tasks import send_transcript
from kefu.staff.access import agent_profile
from kefu.staff.decorators import agent_required
from kefu.staff.models import AgentProfile, Team

LANGUAGES = {"zh-hans", "zh-hant", "en"}
UPLOAD_TYPES = {
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", ".txt", ".csv", ".doc", ".docx",
    ".xls", ".xlsx", ".ppt", ".pptx", ".zip", ".rar", ".7z", ".mp4", ".mov",
}  # fmt: skip
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp"}  # fmt: skip


def error(code: str, message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def _fields(data: dict[str, Any], *names: str) -> dict[str, str]:
    return {k: v if isinstance(v := data.get(k), str) else "" for k in names}


def _json(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except ValueError:
        return {"__invalid__": True}
    return data if isinstance(data, dict) else {"__invalid__": True}


def _widget(key: str) -> Widget:
    widget = Widget.objects.filter(site_key=key, active=True).select_related("team").first()
    if widget is None:
        raise Http404("no such chat widget")
    return widget


def _language(widget: Widget, asked: str, request: HttpRequest) -> str:
    asked = (asked or "").lower()
    if asked in LANGUAGES:
        return asked
    if widget.language:
        return widget.language
    return translation.get_language_from_request(request) or settings.LANGUAGE_CODE


def visitor_api(view: Callable[..., JsonResponse]) -> Callable[..., HttpResponseBase]:
    """A widget endpoint: POST, a known widget, a valid visitor token, a rate limit per IP."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest, key: str) -> HttpResponseBase:
        widget = _widget(key)
        if not ratelimit.hit("chat-http", ratelimit.client_address(request.META), 120, 60):
            return error("rate_limited", "too many requests; wait a minute", 429)
        visitor = visitor_from_token(widget, request.headers.get("X-Kefu-Visitor", ""))
        language = (visitor.language if visitor is not None else "") or widget.language
        with translation.override(language or translation.get_language()):
            return view(request, widget, visitor)

    return wrapper


# The loader and the iframe ------------------------------------------------------------------


@require_GET
def embed_js(request: HttpRequest) -> HttpResponseBase:
    path = finders.find("livechat/embed.js")
    if not path:
        raise Http404("embed.js is missing")
    response = FileResponse(open(path, "rb"), content_type="text/javascript; charset=utf-8")  # noqa: SIM115 (FileResponse closes it)
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
@xframe_options_exempt
def frame(request: HttpRequest, key: str) -> HttpResponse:
    widget = _widget(key)
    language = _language(widget, request.GET.get("lang", ""), request)
    origin = request.GET.get("origin", "")[:200].rstrip("/").lower()
    with translation.override(language):
        response = render(
            request,
            "livechat/frame.html",
            {
                "widget": widget,
                "language": language,
                "config": {
                    "key": widget.site_key,
                    "lang": language,
                    "api": f"/chat/w/{widget.site_key}/",
                    "ws": f"/ws/chat/{widget.site_key}/",
                    "form": {
                        "name": widget.ask_name,
                        "email": widget.ask_email,
                        "phone": widget.ask_phone,
                        "topics": widget.topic_list,
                    },
                    "greeting": widget.greeting,
                    "color": widget.color,
                    "max_upload": settings.KEFU_CHAT_MAX_UPLOAD_BYTES,
                    "origin": origin if origin in (*widget.origins, _own_origin(request)) else "",
                    "online": _online(widget),
                    "widget_name": widget.name,
                },
            },
        )
    ancestors = " ".join(["'self'", *widget.origins])
    response["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; form-action 'self'; "
        f"frame-ancestors {ancestors}"
    )
    response["Content-Language"] = language
    return response


def _own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}".lower()


def _online(widget: Widget) -> bool:
    return widget.is_open() and routing.anyone_online(widget.team_id)


@require_GET
@xframe_options_exempt
def sample_host(request: HttpRequest, key: str) -> HttpResponse:
    """A page that embeds the widget as a customer's website would (for the demo)."""
    widget = _widget(key)
    identity = None
    if request.GET.get("as"):
        identity = sign_identity(
            widget.identity_secret,
            external_id=request.GET["as"][:50],
            name=request.GET.get("name", "")[:100],
            email=request.GET.get("email", "")[:200],
        )
    return render(request, "livechat/sample_host.html", {"widget": widget, "identity": identity})


# Visitor JSON endpoints ---------------------------------------------------------------------


def _session_body(widget: Widget, visitor: Visitor) -> dict[str, Any]:
    session = actions.current_session(visitor)
    body: dict[str, Any] = {
        "token": visitor_token(visitor),
        "visitor": str(visitor.uuid),
        "verified": visitor.verified,
        "online": _online(widget),
        "state": session.state if session is not None else "none",
        "conversation": session.conversation_id if session is not None else None,
    }
    if session is not None and session.state == ChatSession.State.QUEUED:
        body["position"] = routing.position(session)
    return body


@visitor_api
def session(request: HttpRequest, widget: Widget, visitor: Visitor | None) -> JsonResponse:
    data = _json(request)
    identity = verify_identity(widget, data.get("identity"))
    language = data.get("lang") if isinstance(data.get("lang"), str) else ""
    visitor = actions.visitor_for(widget, visitor, identity, language=language or "")
    return JsonResponse(_session_body(widget, visitor))


@visitor_api
def start(request: HttpRequest, widget: Widget, visitor: Visitor | None) -> JsonResponse:
    if visitor is None:
        return error("no_visitor", "open a session first", 401)
    data = _json(request)
    if data.get("__invalid__"):
        return error("bad_frame", "send a JSON object")
    try:
        chat = actions.start_chat(
            widget,
            visitor,
            **_fields(data, "name", "email", "phone", "topic", "text", "page_url"),
        )
    except actions.ChatError as failure:
        return error(failure.code, str(failure))
    body = _session_body(widget, visitor)
    body["conversation"] = chat.conversation_id
    return JsonResponse(body)


@visitor_api
def upload(request: HttpRequest, widget: Widget, visitor: Visitor | None) -> JsonResponse:
    if visitor is None:
        return error("no_visitor", "open a session first", 401)
    chat = actions.current_session(visitor)
    if chat is None:
        return error("no_chat", "start a chat first")
    item = request.FILES.get("file")
    if item is None:
        return error("invalid", "no file")
    limit = settings.KEFU_CHAT_MAX_UPLOAD_BYTES
    if item.size is None or item.size > limit:
        return error("too_large", f"a file is at most {limit // (1024 * 1024)} MB", 413)
    name = (item.name or "file").rsplit("/", 1)[-1][:200]
    extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if extension not in UPLOAD_TYPES:
        return error("bad_type", "this kind of file cannot be sent here", 415)
    content = item.read()
    content_type = IMAGE_TYPES.get(extension) or (
        mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    if extension in IMAGE_TYPES and not _looks_like_image(content):
        return error("bad_type", "this file is not the image its name says", 415)
    text = request.POST.get("text", "")
    try:
        message = actions.visitor_message(
            chat,
            text=text,
            cid=request.POST.get("cid", ""),
            attachments=[NewAttachment(filename=name, content=content, content_type=content_type)],
        )
    except ActionError as failure:
        return error(getattr(failure, "code", "invalid"), str(failure))
    return JsonResponse({"id": message.pk})


def _looks_like_image(content: bytes) -> bool:
    return content.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")) or (
        content[:4] == b"RIFF" and content[8:12] == b"WEBP"
    )


@visitor_api
def offline(request: HttpRequest, widget: Widget, visitor: Visitor | None) -> JsonResponse:
    data = _json(request)
    address = ratelimit.client_address(request.META)
    if ratelimit.exceeded("chat-offline", address, 5, 3600):  # refused attempts cost nothing
        return error("rate_limited", "too many messages; try again later", 429)
    try:
        conversation = actions.leave_message(
            widget,
            visitor,
            **_fields(data, "name", "email", "phone", "text"),
        )
    except actions.ChatError as failure:
        return error(failure.code, str(failure))
    ratelimit.hit("chat-offline", address, 5, 3600)
    return JsonResponse({"conversation": conversation.pk})


@visitor_api
def transcript(request: HttpRequest, widget: Widget, visitor: Visitor | None) -> JsonResponse:
    if visitor is None:
        return error("no_visitor", "open a session first", 401)
    chat = actions.current_session(visitor)
    if chat is None:
        return error("no_chat", "there is no chat to send")
    email = _json(request).get("email")
    if not isinstance(email, str) or not actions.EMAIL.match(email.strip()):
        return error("invalid", "this is not an email address")
    if not ratelimit.hit("chat-transcript", str(visitor.uuid), 3, 3600):
        return error("rate_limited", "too many transcripts; try again later", 429)
    send_transcript.enqueue(chat.pk, email.strip(), translation.get_language() or "")
    return JsonResponse({"queued": True})


@require_GET
def suggestions(request: HttpRequest, key: str) -> JsonResponse:
    """Articles that may answer the question being typed (empty until a knowledge base
    registers with :mod:`kefu.livechat.suggest`)."""
    widget = _widget(key)
    if not ratelimit.hit("chat-suggest", ratelimit.client_address(request.META), 60, 60):
        return error("rate_limited", "too many requests; wait a minute", 429)
    language = _language(widget, request.GET.get("lang", ""), request)
    return JsonResponse({"articles": suggest(widget, request.GET.get("q", ""), language)})


@require_GET
def visitor_file(request: HttpRequest, key: str, signed: str) -> HttpResponseBase:
    widget = _widget(key)
    try:
        attachment_id = int(signing.Signer(salt=FILE_SALT).unsign(signed))
    except (signing.BadSignature, ValueError):
        raise Http404("no such file") from None
    item = get_object_or_404(
        Attachment, pk=attachment_id, message__conversation__chat__widget=widget
    )
    if item.content_type in IMAGE_TYPES.values():
        response = FileResponse(item.file.open("rb"), content_type=item.content_type)
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    else:
        response = FileResponse(item.file.open("rb"), as_attachment=True, filename=item.filename)
        response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=86400"
    return response


# Agents -------------------------------------------------------------------------------------


def _chat(request: HtmxRequest, pk: int) -> ChatSession:
    conversation = access_conversation(request.user, pk)
    session = (
        ChatSession.objects.filter(conversation=conversation)
        .select_related("conversation", "widget", "visitor", "agent__agent_profile")
        .first()
    )
    if session is None:
        raise Http404("not a live chat")
    return session


def _back(request: HtmxRequest, pk: int, failure: str = "") -> HttpResponse:
    if request.htmx:
        response = HttpResponse(status=204 if not failure else 400)
        if failure:
            response = HttpResponse(failure, status=400, content_type="text/plain; charset=utf-8")
        response["HX-Refresh"] = "true" if not failure else "false"
        return response
    if failure:
        return HttpResponse(failure, status=400, content_type="text/plain; charset=utf-8")
    return redirect("conversation", pk=pk)


def profile_pk(request: HtmxRequest) -> int:
    profile = agent_profile(request.user)
    return profile.pk if profile is not None else 0


@require_GET
@agent_required
def panel(request: HtmxRequest, pk: int) -> HttpResponse:
    """The chat's side panel on the conversation page: state, identity, transfer, invite."""
    conversation = access_conversation(request.user, pk)
    if not ChatSession.objects.filter(conversation=conversation).exists():
        # Left through the widget's offline form (or imported): no live chat to steer.
        return render(request, "livechat/_panel_offline.html", {"conversation": conversation})
    chat = _chat(request, pk)
    agents = AgentProfile.objects.filter(user__is_active=True).exclude(pk=profile_pk(request))
    return render(
        request,
        "livechat/_panel.html",
        {
            "chat": chat,
            "position": routing.position(chat) if chat.state == ChatSession.State.QUEUED else 0,
            "colleagues": agents.select_related("user").order_by("display_name"),
            "supervisors": agents.filter(
                role__in=(AgentProfile.Role.SUPERVISOR, AgentProfile.Role.ADMIN)
            ).select_related("user"),
            "teams": Team.objects.all(),
            "stars": range(1, 6),
        },
    )


@require_POST
@agent_required
def transfer(request: HtmxRequest, pk: int) -> HttpResponse:
    chat = _chat(request, pk)
    target = request.POST.get("to", "")
    try:
        if target.startswith("agent:"):
            agent = get_object_or_404(
                get_user_model(), pk=int(target[6:]) if target[6:].isdigit() else 0
            )
            actions.transfer(chat, actor=request.user, to_agent=agent)
        elif target.startswith("team:"):
            team = get_object_or_404(Team, pk=int(target[5:]) if target[5:].isdigit() else 0)
            actions.transfer(chat, actor=request.user, to_team=team)
        else:
            return _back(request, pk, "choose a colleague or a team")
    except ActionError as failure:
        return _back(request, pk, str(failure))
    return _back(request, pk)


@require_POST
@agent_required
def invite(request: HtmxRequest, pk: int) -> HttpResponse:
    chat = _chat(request, pk)
    raw = request.POST.get("agent", "")
    colleague = get_object_or_404(get_user_model(), pk=int(raw) if raw.isdigit() else 0)
    try:
        actions.invite(chat, actor=request.user, supervisor=colleague)
    except ActionError as failure:
        return _back(request, pk, str(failure))
    return _back(request, pk)


@require_POST
@agent_required
def end(request: HtmxRequest, pk: int) -> HttpResponse:
    chat = _chat(request, pk)
    actions.end_chat(chat, by="agent", actor=request.user)
    return _back(request, pk)


@require_POST
@agent_required
def read(request: HtmxRequest, pk: int) -> HttpResponse:
    chat = _chat(request, pk)
    raw = request.POST.get("id", "")
    if raw.isdigit():
        actions.mark_read(chat, by="agent", message_id=int(raw))
    return HttpResponse(status=204)


@require_GET
@agent_required
def chats(request: HtmxRequest) -> HttpResponse:
    """The agent's live chats and the queue, for the workspace's chat panel."""
    profile = agent_profile(request.user)
    assert profile is not None
    mine = (
        routing.active_chats(request.user)
        .select_related("conversation__customer", "widget")
        .order_by("accepted_at")
    )
    queue = routing.waiting().select_related("conversation__customer", "widget")
    if not profile.sees_all_teams:
        queue = queue.filter(conversation__team__in=profile.teams.all())
    template = "livechat/_chat_list.html" if request.htmx else "livechat/chats.html"
    return render(
        request, template, {"mine": list(mine), "queue": list(queue[:50]), "profile": profile}
    )
