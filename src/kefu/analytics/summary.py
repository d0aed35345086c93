"""The weekly summary by email to supervisors and admins (Monday, once a week)."""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone, translation

from kefu.analytics.filters import Filters
from kefu.analytics.metrics import report
from kefu.analytics.terms import trending
from kefu.staff.models import AgentProfile

SEND_WEEKDAY = 0  # Monday
SEND_HOUR = 8


def recipients() -> list[AgentProfile]:
    return list(
        AgentProfile.objects.filter(
            role__in=[AgentProfile.Role.SUPERVISOR, AgentProfile.Role.ADMIN],
            user__is_active=True,
        )
        .exclude(user__email="")
        .select_related("user")
    )


def send_weekly_summary() -> int:
    """Last week's figures (Monday to Sunday) against the week before; returns mails sent."""
    today = timezone.localdate()
    end = today - timedelta(days=today.weekday() + 1)
    start = end - timedelta(days=6)
    f = Filters(start=start, end=end, period="custom", grain="day")
    before = Filters(
        start=start - timedelta(days=7), end=start - timedelta(days=1), period="custom"
    )
    now, prev = report(f).figures, report(before).figures
    terms = trending(start)
    sent = 0
    for profile in recipients():
        with translation.override(profile.language or "zh-hans"):
            body = render_to_string(
                "analytics/weekly_summary.txt",
                {"f": f, "now": now, "prev": prev, "terms": terms, "profile": profile},
                request=RequestFactory().get("/"),
            )
            subject = body.splitlines()[0]
            send_mail(subject, "\n".join(body.splitlines()[2:]), None, [profile.user.email])
            sent += 1
    return sent


def send_weekly_summary_if_due() -> bool:
    now = timezone.localtime()
    if now.weekday() != SEND_WEEKDAY or now.hour < SEND_HOUR:
        return False
    key = f"kefu:analytics:weekly:{now.date().isoformat()}"
    if not cache.add(key, 1, timeout=8 * 24 * 3600):
        return False
    send_weekly_summary()
    return True
