"""``/api/customers``: find, create (by identity resolution) and show customers."""

from __future__ import annotations

from typing import Annotated, Any

from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest
from ninja import Path, Query, Router, Status

from kefu.api.auth import agent
from kefu.api.pagination import paginate
from kefu.api.schemas import MAX_ID, CustomerDetail, CustomerFilters, CustomerIn, CustomerList, Page
from kefu.conversations.actions import normalize_tag
from kefu.customers.actions import resolve_customer, set_tier
from kefu.customers.models import ContactPoint, Customer, CustomerNote

router = Router(tags=["customers"])

CustomerId = Annotated[int, Path(ge=1, le=MAX_ID)]


def listing(queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    """What :class:`~kefu.api.schemas.CustomerOut` reads, loaded for the whole page at once."""
    return queryset.select_related("organization").prefetch_related("contact_points", "tags")


def detail(pk: int) -> Customer:
    customer = (
        listing(Customer.objects.all())
        .prefetch_related(
            "preferences",
            Prefetch("notes", CustomerNote.objects.select_related("author__agent_profile")),
        )
        .filter(pk=pk)
        .first()
    )
    if customer is None:
        raise Http404(f"no customer with id {pk}")
    return customer


@router.get("", response=CustomerList, summary="List customers")
def list_customers(
    request: HttpRequest, filters: Query[CustomerFilters], page: Query[Page]
) -> dict[str, Any]:
    """Customers by name; merged duplicates are left out (they point to the customer kept)."""
    customers = Customer.objects.filter(merged_into__isnull=True)
    if filters.q:
        matching_contacts = ContactPoint.objects.filter(value__icontains=filters.q)
        customers = customers.filter(
            Q(name__icontains=filters.q) | Q(pk__in=matching_contacts.values("customer_id"))
        )
    if filters.tier:
        customers = customers.filter(tier=filters.tier)
    if filters.tag:
        customers = customers.filter(tags__name=normalize_tag(filters.tag))
    return paginate(listing(customers), page)


@router.post("", response={201: CustomerDetail}, summary="Find or create a customer")
def create_customer(request: HttpRequest, payload: CustomerIn) -> Status[Customer]:
    """The customer behind this email and/or phone: an existing one if known (new contact
    points are added to it), otherwise a new one. ``tier`` is set when given."""
    user = agent(request)
    with transaction.atomic():
        customer = resolve_customer(
            email=payload.email, phone=payload.phone, name=payload.name, actor=user
        )
        if payload.tier is not None:
            set_tier(customer, tier=payload.tier.value, actor=user)
    return Status(201, detail(customer.pk))


@router.get("/{customer_id}", response=CustomerDetail, summary="Show a customer")
def get_customer(request: HttpRequest, customer_id: CustomerId) -> Customer:
    """The customer with contact points, memory (preferences) and notes."""
    return detail(customer_id)
