"""Care's pages: public survey and unsubscribe (token-authorized, rate-limited), and the
agents' campaign pages (progress, start / pause for supervisors, test send, preview)."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kefu.care import campaigns as campaign_actions
from kefu.care import consent, segments, tokens
from kefu.care.models import Campaign, Delivery, Survey, Template
from kefu.care.surveys import AlreadyAnswered, answer
from kefu.core import ratelimit
from kefu.core.errors import ActionError
from kefu.customers.models import Customer
from kefu.staff.access import agent_profile
from kefu.staff.decorators import agent_required
from kefu.staff.models import AgentProfile

PUBLIC_LIMIT = 30  # requests per minute per address
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _language(customer: Customer) -> Any:
    """Public pages speak the customer's language when it is known (else the browser's)."""
    if customer.language in dict(settings.LANGUAGES):
        return translation.override(customer.language)
    return contextlib.nullcontext()


def _limited(request: HttpRequest, scope: str) -> bool:
    return not ratelimit.hit(scope, ratelimit.client_address(request.META), PUBLIC_LIMIT, 60)


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "care/public_message.html",
        {"message": _("Too many requests. Please try again in a minute.")},
        status=429,
    )


# Public ----------------------------------------------------------------------------------


@csrf_exempt  # authorized by the signed token; RFC 8058 one-click POSTs carry no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows one button (link scanners fetch GET links, so GET changes nothing); POST —
    the button, or a mail client's RFC 8058 one-click — unsubscribes at once."""
    if _limited(request, "care-unsubscribe"):
        return _too_many(request)
    delivery_id = tokens.read(tokens.UNSUBSCRIBE, token)
    delivery = (
        Delivery.objects.select_related("customer").filter(pk=delivery_id).first()
        if delivery_id
        else None
    )
    if delivery is None:
        return render(
            request,
            "care/public_message.html",
            {"message": _("This unsubscribe link is not valid.")},
            status=404,
        )
    with _language(delivery.customer):
        return _unsubscribe(request, delivery, token)


def _unsubscribe(request: HttpRequest, delivery: Delivery, token: str) -> HttpResponse:
    if request.method == "POST":
        consent.unsubscribe(delivery)
        return render(request, "care/unsubscribed.html", {"delivery": delivery})
    return render(request, "care/unsubscribe.html", {"delivery": delivery, "token": token})


@require_http_methods(["GET", "POST"])
def survey(request: HttpRequest, token: str) -> HttpResponse:
    if _limited(request, "care-survey"):
        return _too_many(request)
    survey_id = tokens.read(tokens.SURVEY, token)
    item = (
        Survey.objects.select_related(
            "customer", "conversation", "conversation__team", "customer__team"
        )
        .filter(pk=survey_id)
        .first()
        if survey_id
        else None
    )
    if item is None:
        return render(
            request,
            "care/public_message.html",
            {"message": _("This survey link is not valid.")},
            status=404,
        )
    with _language(item.customer):
        return _survey(request, item)


def _survey(request: HttpRequest, item: Survey) -> HttpResponse:
    if item.answered_at is not None:
        return render(
            request,
            "care/public_message.html",
            {"message": _("This survey has already been answered. Thank you!")},
            status=410,
        )
    top = 5 if item.kind == Survey.Kind.CSAT else 10
    low = 1 if item.kind == Survey.Kind.CSAT else 0
    error = ""
    if request.method == "POST":
        raw = request.POST.get("score", "")
        try:
            answer(
                item,
                score=int(raw) if raw.isdigit() else -1,
                comment=request.POST.get("comment", ""),
            )
        except AlreadyAnswered as exc:
            return render(request, "care/public_message.html", {"message": str(exc)}, status=410)
        except ActionError as exc:
            error = str(exc)
        else:
            return render(
                request, "care/public_message.html", {"message": _("Thank you for your answer!")}
            )
    chosen = request.GET.get("score", "")
    return render(
        request,
        "care/survey.html",
        {
            "survey": item,
            "scores": list(range(low, top + 1)),
            "chosen": int(chosen) if chosen.isdigit() else None,
            "error": error,
        },
        status=400 if error else 200,
    )


@require_GET
def opened(request: HttpRequest, token: str) -> HttpResponse:
    delivery_id = tokens.read(tokens.OPENED, token)
    if delivery_id:
        consent.mark_opened(delivery_id)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


# Agents ------------------------------------------------------------------------------------


def _supervisor(request: HttpRequest) -> None:
    me = agent_profile(request.user)
    if me is None or me.role not in (AgentProfile.Role.SUPERVISOR, AgentProfile.Role.ADMIN):
        raise PermissionDenied


@agent_required
@require_GET
def campaigns(request: HttpRequest) -> HttpResponse:
    items = Campaign.objects.select_related("segment", "template")[:200]
    return render(request, "care/campaigns.html", {"campaigns": items})


@agent_required
@require_GET
def campaign(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Campaign.objects.select_related("segment", "template"), pk=pk)
    customer = None
    raw = request.GET.get("customer", "")
    if raw.isdigit():
        customer = Customer.objects.filter(pk=int(raw)).first()
    customer = customer or segments.members(item.segment).first()
    preview = campaign_actions.preview(item, customer) if customer else None
    return render(
        request,
        "care/campaign.html",
        {
            "campaign": item,
            "progress": campaign_actions.progress(item),
            "count": segments.live_count(item.segment, item.purpose),
            "preview": preview,
            "preview_customer": customer,
            "can_run": agent_profile(request.user).role in ("supervisor", "admin"),  # type: ignore[union-attr]
        },
    )


@agent_required
@require_GET
def campaign_progress(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Campaign, pk=pk)
    return render(
        request,
        "care/_progress.html",
        {"campaign": item, "progress": campaign_actions.progress(item)},
    )


@agent_required
@require_POST
def campaign_start(request: HttpRequest, pk: int) -> HttpResponse:
    _supervisor(request)
    item = get_object_or_404(Campaign, pk=pk)
    try:
        campaign_actions.start(item, actor=request.user)
    except ActionError as exc:
        messages.error(request, str(exc))
    return redirect("care:campaign", pk=pk)


@agent_required
@require_POST
def campaign_pause(request: HttpRequest, pk: int) -> HttpResponse:
    _supervisor(request)
    item = get_object_or_404(Campaign, pk=pk)
    try:
        campaign_actions.pause(item, actor=request.user)
    except ActionError as exc:
        messages.error(request, str(exc))
    return redirect("care:campaign", pk=pk)


@agent_required
@require_POST
def campaign_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the message as a chosen customer would get it to the agent's own address."""
    item = get_object_or_404(Campaign, pk=pk)
    raw = request.POST.get("customer", "")
    customer = Customer.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    customer = customer or segments.members(item.segment).first()
    address = getattr(request.user, "email", "")
    if customer is None or not address:
        messages.error(request, _("A test needs a customer in the segment and your email address."))
        return redirect("care:campaign", pk=pk)
    try:
        campaign_actions.test_send(item, customer=customer, address=address)
    except Exception as exc:
        messages.error(request, _("The test could not be sent: %(error)s") % {"error": exc})
    else:
        messages.success(request, _("Test sent to %(address)s.") % {"address": address})
    return redirect("care:campaign", pk=pk)


@agent_required
@require_GET
def template_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """A template as a real customer would get it (``?customer=<id>``), before activating."""
    template = get_object_or_404(Template, pk=pk)
    raw = request.GET.get("customer", "")
    customer = Customer.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    customer = customer or Customer.objects.filter(merged_into__isnull=True).first()
    if customer is None:
        raise Http404
    return render(
        request,
        "care/preview.html",
        {
            "template": template,
            "customer": customer,
            "preview": campaign_actions.preview(template, customer),
        },
    )
