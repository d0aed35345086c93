"""Segments: customers chosen by their fields, tiers, tags, language, activity and scores.

``rules`` keys (all optional, all must hold): ``tiers``, ``tags``, ``languages`` (lists),
``active_within_days`` / ``inactive_for_days`` (last conversation), ``min_churn_risk`` /
``max_churn_risk``, ``satisfaction_at_most`` / ``satisfaction_at_least`` (any rated
conversation), ``has_birthday`` (bool).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.care.consent import consent_q
from kefu.care.models import Segment, Suppression
from kefu.conversations.models import Conversation
from kefu.customers.models import Customer

KNOWN = {
    "tiers": list,
    "tags": list,
    "languages": list,
    "active_within_days": int,
    "inactive_for_days": int,
    "min_churn_risk": int,
    "max_churn_risk": int,
    "satisfaction_at_most": int,
    "satisfaction_at_least": int,
    "has_birthday": bool,
}


def check_rules(rules: Any) -> None:
    if not isinstance(rules, dict):
        raise ValidationError(_("Rules must be an object."))
    for key, value in rules.items():
        if key not in KNOWN:
            raise ValidationError(_("Unknown rule “%(rule)s”.") % {"rule": key})
        if not isinstance(value, KNOWN[key]) or (KNOWN[key] is int and isinstance(value, bool)):
            raise ValidationError(_("Rule “%(rule)s” has the wrong type.") % {"rule": key})


def members(segment: Segment | dict[str, Any]) -> QuerySet[Customer]:
    """The segment's customers (merged-away records never), ordered by id."""
    rules = segment.rules if isinstance(segment, Segment) else segment
    qs = Customer.objects.filter(merged_into__isnull=True)
    if rules.get("tiers"):
        qs = qs.filter(tier__in=rules["tiers"])
    if rules.get("languages"):
        qs = qs.filter(language__in=rules["languages"])
    if rules.get("tags"):
        qs = qs.filter(tags__name__in=rules["tags"]).distinct()
    now = timezone.now()
    conversations = Conversation.objects.filter(customer=OuterRef("pk"))
    if rules.get("active_within_days") is not None:
        since = now - timedelta(days=rules["active_within_days"])
        qs = qs.filter(Exists(conversations.filter(updated_at__gte=since)))
    if rules.get("inactive_for_days") is not None:
        since = now - timedelta(days=rules["inactive_for_days"])
        qs = qs.exclude(Exists(conversations.filter(updated_at__gte=since)))
    if rules.get("satisfaction_at_most") is not None:
        qs = qs.filter(
            Exists(conversations.filter(satisfaction__lte=rules["satisfaction_at_most"]))
        )
    if rules.get("satisfaction_at_least") is not None:
        qs = qs.filter(
            Exists(conversations.filter(satisfaction__gte=rules["satisfaction_at_least"]))
        )
    if rules.get("min_churn_risk") is not None:
        qs = qs.filter(care_health__churn_risk__gte=rules["min_churn_risk"])
    if rules.get("max_churn_risk") is not None:
        qs = qs.exclude(care_health__churn_risk__gt=rules["max_churn_risk"])
    if rules.get("has_birthday") is not None:
        qs = qs.filter(birthday__isnull=not rules["has_birthday"])
    return qs.order_by("id")


def reachable(segment: Segment | dict[str, Any], purpose: str) -> QuerySet[Customer]:
    """Members who consent to ``purpose`` and whose primary address is not suppressed."""
    suppressed = Suppression.objects.filter(address=OuterRef("primary_contact"))
    return members(segment).filter(consent_q(purpose)).exclude(Exists(suppressed))


def live_count(segment: Segment, purpose: str) -> dict[str, int]:
    return {
        "members": members(segment).count(),
        "reachable": reachable(segment, purpose).count(),
    }
