"""Consent per purpose, and addresses care never writes to (suppression)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kefu.care import live
from kefu.care.models import Consent, Delivery, Purpose, Suppression
from kefu.core.events import CustomerChanged, emit
from kefu.customers.models import ContactPoint, Customer
from kefu.customers.timeline import record

# The customer's flag that holds the current consent for each purpose.
FLAG = {Purpose.SERVICE: "consent_email", Purpose.MARKETING: "consent_marketing"}


def consent_q(purpose: str, prefix: str = "") -> Q:
    return Q(**{f"{prefix}{FLAG[Purpose(purpose)]}": True})


def has_consent(customer: Customer, purpose: str) -> bool:
    return bool(getattr(customer, FLAG[Purpose(purpose)]))


def unsubscribe(delivery: Delivery) -> None:
    """One click on a message's unsubscribe link: consent for its purpose is withdrawn
    (recorded once, however often the link is used) and the delivery is marked."""
    if has_consent(delivery.customer, delivery.purpose):
        set_consent(
            delivery.customer,
            delivery.purpose,
            granted=False,
            source=f"unsubscribe:{delivery.pk}",
        )
    if Delivery.objects.filter(pk=delivery.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=timezone.now()
    ):
        live.changed(delivery.campaign_id, force=True)


def mark_opened(delivery_id: int) -> None:
    """The tracking pixel of a delivery was loaded (the first time counts)."""
    if Delivery.objects.filter(pk=delivery_id, opened_at__isnull=True).update(
        opened_at=timezone.now()
    ):
        live.changed(
            Delivery.objects.filter(pk=delivery_id).values_list("campaign_id", flat=True).first()
        )


def normalize(address: str) -> str:
    return (address or "").strip().lower()


def is_suppressed(address: str) -> bool:
    return Suppression.objects.filter(address=normalize(address)).exists()


def suppressed_among(addresses: list[str]) -> set[str]:
    wanted = {normalize(a) for a in addresses}
    return set(Suppression.objects.filter(address__in=wanted).values_list("address", flat=True))


def suppress(address: str, reason: str, detail: str = "") -> Suppression:
    suppression, _ = Suppression.objects.get_or_create(
        address=normalize(address)[:254], defaults={"reason": reason, "detail": detail[:500]}
    )
    return suppression


def set_consent(
    customer: Customer, purpose: str, *, granted: bool, source: str, actor: Any = None
) -> None:
    """Record a change of consent (with its source) and make it the customer's current one.
    Withdrawing it cancels the messages of that purpose not yet handed to the mail server."""
    purpose = Purpose(purpose)
    with transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(**{FLAG[purpose]: granted})
        setattr(customer, FLAG[purpose], granted)
        Consent.objects.create(
            customer=customer, purpose=purpose, granted=granted, source=source[:64]
        )
        record(customer, "consent", actor=actor, purpose=purpose, granted=granted, source=source)
        if not granted:
            Delivery.objects.filter(
                customer=customer,
                purpose=purpose,
                state__in=[Delivery.State.PENDING, Delivery.State.CLAIMED],
            ).update(state=Delivery.State.SKIPPED, error="consent withdrawn")
    emit(
        CustomerChanged(
            actor_id=getattr(actor, "pk", None), customer_id=customer.pk, what="profile"
        )
    )


def email_of(customer: Customer) -> str:
    """The customer's email address ("" if none is known)."""
    if "@" in (customer.primary_contact or ""):
        return customer.primary_contact.strip()
    point = (
        ContactPoint.objects.filter(customer=customer, kind=ContactPoint.Kind.EMAIL)
        .order_by("id")
        .values_list("value", flat=True)
        .first()
    )
    return point or ""


def emails_of(customers: list[Customer]) -> dict[int, str]:
    """Addresses of many customers in one query."""
    found = {c.pk: c.primary_contact.strip() for c in customers if "@" in (c.primary_contact or "")}
    missing = [c.pk for c in customers if c.pk not in found]
    if missing:
        for customer_id, value in (
            ContactPoint.objects.filter(customer_id__in=missing, kind=ContactPoint.Kind.EMAIL)
            .order_by("-id")
            .values_list("customer_id", "value")
        ):
            found[customer_id] = value
    return found
