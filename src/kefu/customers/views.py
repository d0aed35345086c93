"""Customer list, customer page and the customer panel (memory, notes, timeline)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import Count, Max, Q
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kefu.core.errors import ActionError
from kefu.core.http import HtmxRequest
from kefu.customers import actions
from kefu.customers.identity import search_forms
from kefu.customers.models import Customer, Preference, Tier
from kefu.customers.timeline import timeline_for
from kefu.staff.decorators import agent_required

TIMELINE_LIMIT = 30


def _customer(pk: int) -> Customer:
    return get_object_or_404(
        Customer.objects.select_related("organization", "owner__agent_profile", "team"), pk=pk
    )


def customer_panel_context(
    request: HtmxRequest, customer: Customer, current: Any = None
) -> dict[str, Any]:
    """What an agent sees of a customer beside any conversation: the anti-goldfish panel."""
    from kefu.conversations.access import visible_conversations

    visible = visible_conversations(request.user)
    conversations = list(
        visible.filter(customer=customer).select_related("team").order_by("-last_message_at")[:10]
    )
    return {
        "customer": customer,
        # Chat visitor ids are browser tokens: counted, not listed.
        "contact_points": [p for p in customer.contact_points.all() if p.kind != "visitor"],
        "preferences": list(customer.preferences.select_related("author__agent_profile")),
        "preference_kinds": Preference.Kind.choices,
        "customer_notes": list(customer.notes.select_related("author__agent_profile")[:5]),
        "customer_tags": list(customer.tags.all()),
        "timeline": list(
            timeline_for(customer, visible.filter(customer=customer))[:TIMELINE_LIMIT]
        ),
        "other_conversations": [c for c in conversations if current is None or c.pk != current.pk],
        "tiers": Tier.choices,
    }


@require_GET
@agent_required
def customer_list(request: HtmxRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    tier = request.GET.get("tier", "")
    qs = Customer.objects.filter(merged_into__isnull=True).select_related("organization")
    if q:
        match = Q(name__icontains=q) | Q(organization__name__icontains=q)
        for form in search_forms(q):
            match |= Q(contact_points__value__icontains=form)
        qs = qs.filter(match).distinct()
    if tier in Tier.values:
        qs = qs.filter(tier=tier)
    qs = (
        qs.annotate(
            conversation_count=Count("conversations", distinct=True),
            last_contact=Max("conversations__last_message_at"),
        )
        .prefetch_related("contact_points")
        .order_by("-last_contact", "name")
    )
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "customers": page.object_list,
        "q": q,
        "tier": tier,
        "tiers": Tier.choices,
    }
    template = "customers/_list_rows.html" if request.htmx else "customers/list.html"
    return render(request, template, context)


@require_GET
@agent_required
def customer_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    customer = _customer(pk)
    if customer.merged_into_id:
        return redirect("customer", pk=customer.merged_into_id)
    context = customer_panel_context(request, customer)
    context["customer_notes"] = list(customer.notes.select_related("author__agent_profile"))
    return render(request, "customers/detail.html", context)


def _memory(request: HtmxRequest, customer: Customer, error: str = "") -> HttpResponse:
    context = customer_panel_context(request, customer)
    context["error"] = error
    response = render(request, "customers/_memory.html", context)
    if error:
        response.status_code = 400
        response["HX-Reswap"] = "outerHTML"
    return response


@require_POST
@agent_required
def preference_add(request: HtmxRequest, pk: int) -> HttpResponse:
    customer = _customer(pk)
    try:
        actions.set_preference(
            customer,
            actor=request.user,
            value=request.POST.get("value", ""),
            kind=request.POST.get("kind", Preference.Kind.OTHER),
        )
    except ActionError as exc:
        return _memory(request, customer, str(exc))
    return _memory(request, customer) if request.htmx else redirect("customer", pk=pk)


@require_http_methods(["GET", "POST"])
@agent_required
def preference_edit(request: HtmxRequest, pk: int, pref_pk: int) -> HttpResponse:
    customer = _customer(pk)
    preference = get_object_or_404(Preference, pk=pref_pk, customer=customer)
    if request.method == "GET":
        return render(
            request,
            "customers/_preference_form.html",
            {
                "customer": customer,
                "preference": preference,
                "preference_kinds": Preference.Kind.choices,
            },
        )
    try:
        actions.set_preference(
            customer,
            actor=request.user,
            value=request.POST.get("value", ""),
            kind=request.POST.get("kind", preference.kind),
            preference=preference,
        )
    except ActionError as exc:
        return _memory(request, customer, str(exc))
    return _memory(request, customer) if request.htmx else redirect("customer", pk=pk)


@require_POST
@agent_required
def preference_delete(request: HtmxRequest, pk: int, pref_pk: int) -> HttpResponse:
    customer = _customer(pk)
    preference = get_object_or_404(Preference, pk=pref_pk, customer=customer)
    actions.remove_preference(preference, actor=request.user)
    return _memory(request, customer) if request.htmx else redirect("customer", pk=pk)


@require_POST
@agent_required
def note_add(request: HtmxRequest, pk: int) -> HttpResponse:
    customer = _customer(pk)
    try:
        actions.add_note(customer, actor=request.user, body=request.POST.get("body", ""))
    except ActionError as exc:
        return _memory(request, customer, str(exc))
    return _memory(request, customer) if request.htmx else redirect("customer", pk=pk)


@require_POST
@agent_required
def tier(request: HtmxRequest, pk: int) -> HttpResponse:
    customer = _customer(pk)
    try:
        actions.set_tier(customer, tier=request.POST.get("tier", ""), actor=request.user)
    except ActionError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    return _memory(request, customer) if request.htmx else redirect("customer", pk=pk)
