"""The one door for changes to customers: identity resolution, memory, tier, merge."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from kefu.core import bulk
from kefu.core.errors import ActionError
from kefu.core.events import CustomerChanged, CustomersMerged, emit
from kefu.customers import identity
from kefu.customers.models import (
    ContactPoint,
    Customer,
    CustomerNote,
    Organization,
    Preference,
    Tier,
)
from kefu.customers.timeline import record


def _actor_id(actor: Any) -> int | None:
    return actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None


def resolve_customer(
    *,
    email: str = "",
    phone: str = "",
    visitor_id: str = "",
    name: str = "",
    actor: Any = None,
) -> Customer:
    """Find the customer behind these contact points, or create one.

    A known email, phone or visitor id lands on the existing customer (following merges);
    contact points not seen before are added to that customer.
    """
    points = [
        (kind, identity.normalize(kind, value))
        for kind, value in (("email", email), ("phone", phone), ("visitor", visitor_id))
        if value
    ]
    if not points:
        raise ActionError("a customer needs at least an email, a phone or a visitor id")
    with transaction.atomic():
        known = list(ContactPoint.objects.select_related("customer").filter(_any_of(points)))
        customer = identity.survivor(known[0].customer) if known else None
        if customer is None:
            customer = Customer.objects.create(
                name=name.strip()[:200], primary_contact=points[0][1]
            )
            record(customer, "customer_created", actor=actor, source=points[0][0])
        elif name and not customer.name:
            customer.name = name.strip()[:200]
            customer.save(update_fields=["name", "updated_at"])
        have = {(cp.kind, cp.value) for cp in known}
        for kind, value in points:
            if (kind, value) not in have:
                try:
                    with transaction.atomic():
                        ContactPoint.objects.create(customer=customer, kind=kind, value=value)
                except IntegrityError:
                    pass  # taken meanwhile by a concurrent request; the first one wins
    return customer


def _any_of(points: list[tuple[str, str]]) -> Q:
    query = Q()
    for kind, value in points:
        query |= Q(kind=kind, value=value)
    return query


def add_contact_point(customer: Customer, *, kind: str, value: str, actor: Any) -> ContactPoint:
    value = identity.normalize(kind, value)
    with transaction.atomic():
        existing = ContactPoint.objects.filter(kind=kind, value=value).first()
        if existing is not None:
            if existing.customer_id == customer.pk:
                return existing
            raise ActionError(
                f"{value} already belongs to another customer (#{existing.customer_id}); "
                "merge the two customers instead"
            )
        point = ContactPoint.objects.create(customer=customer, kind=kind, value=value)
        if not customer.primary_contact:
            customer.primary_contact = value
            customer.save(update_fields=["primary_contact", "updated_at"])
        record(customer, "contact_added", actor=actor, kind=kind, value=value)
    emit(CustomerChanged(actor_id=_actor_id(actor), customer_id=customer.pk, what="profile"))
    return point


def update_profile(
    customer: Customer,
    *,
    actor: Any,
    name: str | None = None,
    birthday: date | None = None,
    organization: Organization | None = None,
    language: str | None = None,
) -> Customer:
    fields = []
    if name is not None:
        customer.name = name.strip()[:200]
        fields.append("name")
    if birthday is not None:
        customer.birthday = birthday
        fields.append("birthday")
    if organization is not None:
        customer.organization = organization
        fields.append("organization")
    if language is not None:
        customer.language = language
        fields.append("language")
    if fields:
        with transaction.atomic():
            customer.save(update_fields=[*fields, "updated_at"])
            record(customer, "profile_changed", actor=actor, fields=fields)
        emit(CustomerChanged(actor_id=_actor_id(actor), customer_id=customer.pk, what="profile"))
    return customer


def set_tier(customer: Customer, *, tier: str, actor: Any) -> Customer:
    if tier not in Tier.values:
        raise ActionError(f"unknown tier {tier!r}; choose one of {', '.join(Tier.values)}")
    if tier == customer.tier:
        return customer
    old = customer.tier
    with transaction.atomic():
        customer.tier = tier
        customer.save(update_fields=["tier", "updated_at"])
        record(customer, "tier_changed", actor=actor, old=old, new=tier)
    emit(CustomerChanged(actor_id=_actor_id(actor), customer_id=customer.pk, what="tier"))
    return customer


def set_preference(
    customer: Customer,
    *,
    actor: Any,
    value: str,
    kind: str = Preference.Kind.OTHER,
    preference: Preference | None = None,
) -> Preference:
    """Add a preference to the customer's memory, or change one (``preference``)."""
    value = value.strip()
    if not value:
        raise ActionError("a preference cannot be empty")
    if len(value) > 255:
        raise ActionError("a preference is at most 255 characters; use a note for more")
    if kind not in Preference.Kind.values:
        raise ActionError(f"unknown preference kind {kind!r}")
    with transaction.atomic():
        if preference is None:
            preference = Preference.objects.create(
                customer=customer, kind=kind, value=value, author=actor
            )
            record(customer, "preference_added", actor=actor, kind=kind, value=value)
        else:
            if preference.customer_id != customer.pk:
                raise ActionError("that preference belongs to another customer")
            old = preference.value
            preference.kind, preference.value, preference.author = kind, value, actor
            preference.save(update_fields=["kind", "value", "author", "updated_at"])
            record(customer, "preference_changed", actor=actor, old=old, value=value)
    emit(CustomerChanged(actor_id=_actor_id(actor), customer_id=customer.pk, what="memory"))
    return preference


def remove_preference(preference: Preference, *, actor: Any) -> None:
    customer = preference.customer
    with transaction.atomic():
        record(customer, "preference_removed", actor=actor, value=preference.value)
        preference.delete()
    emit(CustomerChanged(actor_id=_actor_id(actor), customer_id=customer.pk, what="memory"))


def add_note(customer: Customer, *, actor: Any, body: str) -> CustomerNote:
    body = body.strip()
    if not body:
        raise ActionError("a note cannot be empty")
    with transaction.atomic():
        note = CustomerNote.objects.create(customer=customer, body=body, author=actor)
        record(customer, "note_added", actor=actor, excerpt=body[:120])
    emit(CustomerChanged(actor_id=_actor_id(actor), customer_id=customer.pk, what="note"))
    return note


def merge_customers(source: Customer, target: Customer, *, actor: Any) -> Customer:
    """Join a duplicate into ``target``: contact points, conversations, memory, notes, tags
    and the whole timeline move over; ``source`` stays as a pointer (``merged_into``)."""
    if source.pk == target.pk:
        raise ActionError("a customer cannot be merged into itself")
    from kefu.conversations.models import Conversation

    with transaction.atomic():
        # Lock both rows in id order, so two merges of the same pair cannot deadlock.
        locked = {
            c.pk: c
            for c in Customer.objects.select_for_update()
            .filter(pk__in=[source.pk, target.pk])
            .order_by("pk")
        }
        source, target = locked[source.pk], locked[target.pk]
        if source.merged_into_id:
            raise ActionError(f"customer #{source.pk} was already merged")
        if target.merged_into_id:
            raise ActionError(
                f"customer #{target.pk} was merged into #{target.merged_into_id}; "
                "merge into that one"
            )
        ContactPoint.objects.filter(customer=source).update(customer=target)
        Conversation.objects.filter(customer=source).update(customer=target)
        Preference.objects.filter(customer=source).update(customer=target)
        CustomerNote.objects.filter(customer=source).update(customer=target)
        source.timeline.update(customer=target)
        target.tags.add(*source.tags.all())
        for name in (
            "name",
            "primary_contact",
            "birthday",
            "organization",
            "owner",
            "team",
            "language",
        ):
            if not getattr(target, name) and getattr(source, name):
                setattr(target, name, getattr(source, name))
        if _tier_rank(source.tier) > _tier_rank(target.tier):
            target.tier = source.tier
        portal_user = source.user if source.user_id and not target.user_id else None
        source.merged_into = target
        if portal_user is not None:
            source.user = None  # the portal login follows the customer's history
        source.save(update_fields=["merged_into", "user", "updated_at"])
        if portal_user is not None:
            target.user = portal_user
        target.save()
        record(target, "customer_merged", actor=actor, source_id=source.pk, source_name=source.name)
    emit(CustomersMerged(actor_id=_actor_id(actor), customer_id=target.pk, source_id=source.pk))
    return target


def _tier_rank(tier: str) -> int:
    return {Tier.NORMAL: 0, Tier.KEY_ACCOUNT: 1, Tier.VIP: 2}.get(Tier(tier), 0)


def resolve_customers(requests: list[tuple[str, str, str]]) -> list[Customer]:
    """:func:`resolve_customer` for many senders at once: ``(kind, value, name)`` each, one
    contact point per request (``kind`` "email", "phone" or "visitor"). The customers in the
    order asked; a value asked twice is one customer. New customers, their contact points and
    timeline entries are written with one INSERT per table. Raises ActionError for a value
    that is not a valid contact point (nothing is written then).
    """
    from kefu.customers.models import TimelineEntry

    keys = [(kind, identity.normalize(kind, value)) for kind, value, _name in requests]
    if not keys:
        return []
    with transaction.atomic():
        found: dict[tuple[str, str], Customer] = {}
        for point in ContactPoint.objects.select_related("customer").filter(
            value__in={value for _kind, value in keys}
        ):
            found[(point.kind, point.value)] = identity.survivor(point.customer)
        new: list[tuple[tuple[str, str], Customer]] = []
        named: dict[int, Customer] = {}
        for (kind, value), (_kind, _value, name) in zip(keys, requests, strict=True):
            customer = found.get((kind, value))
            if customer is None:
                customer = Customer(name=name.strip()[:200], primary_contact=value)
                found[(kind, value)] = customer
                new.append(((kind, value), customer))
            elif name and not customer.name:
                customer.name = name.strip()[:200]
                if customer.pk is not None:
                    named[customer.pk] = customer
        bulk.insert([customer for _key, customer in new])
        bulk.insert([ContactPoint(customer=c, kind=kind, value=value) for (kind, value), c in new])
        bulk.insert(
            [
                TimelineEntry(customer=c, kind="customer_created", data={"source": kind})
                for (kind, _value), c in new
            ]
        )
        for customer in named.values():
            customer.save(update_fields=["name", "updated_at"])
    return [found[key] for key in keys]
