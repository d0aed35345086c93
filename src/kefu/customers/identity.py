"""Normalising contact points, so one person is one customer whatever way they write in."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from kefu.core.errors import ActionError


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 254:
        raise ActionError("an email address is at most 254 characters")
    try:
        validate_email(email)
    except ValidationError as exc:
        if not _internationalized(email):
            raise ActionError(f"not a valid email address: {value!r}") from exc
    return email


def _internationalized(email: str) -> bool:
    """An RFC 6531 address (non-ASCII local part, e.g. 张三@例子.中国), which Django's
    validator refuses but real mail carries."""
    local, _, domain = email.rpartition("@")
    return (
        bool(local)
        and "." in domain
        and not email.isascii()
        and not re.search(r"[\s<>()\[\],;:\\\"@]", local + domain)
    )


def normalize_phone(value: str) -> str:
    raw = value.strip()
    digits = re.sub(r"[^\d+]", "", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    plus = digits.startswith("+")
    digits = digits.replace("+", "")
    if not digits or len(digits) < 5 or len(digits) > 16:
        raise ActionError(f"not a valid phone number: {value!r}")
    if not plus and len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits  # a mainland mobile number written without the country code
    return ("+" if plus else "") + digits


def normalize(kind: str, value: str) -> str:
    if kind == "email":
        return normalize_email(value)
    if kind == "phone":
        return normalize_phone(value)
    value = value.strip()
    if not value or len(value) > 254:
        raise ActionError("a visitor id must be 1–254 characters")
    return value


def search_forms(query: str) -> set[str]:
    """The ways a contact point matching ``query`` may be stored: as typed, and for something
    that looks like a phone number ("138 0013 8000", "+86-138…") its normalised form."""
    forms = {query.strip()}
    if sum(ch.isdigit() for ch in query) >= 5 and not re.search(r"[^\d\s+()\-.]", query):
        try:
            phone = normalize_phone(query)
        except ActionError:
            return forms
        forms.add(phone)
        forms.add(phone.removeprefix("+86"))
    return {f for f in forms if f}


def survivor(customer: Any) -> Any:
    """The customer a merged-away record now lives on (itself if it was never merged)."""
    seen: set[int] = set()
    while customer.merged_into_id and customer.pk not in seen:
        seen.add(customer.pk)
        customer = customer.merged_into
    return customer
