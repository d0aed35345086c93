"""The inbox: named views and filters over the conversations an agent may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from kefu.conversations.access import visible_conversations
from kefu.conversations.models import OPEN_STATUSES, Conversation, Status
from kefu.customers.identity import search_forms
from kefu.staff.access import team_ids

VIEWS: dict[str, Any] = {
    "mine": _("Mine"),
    "unassigned": _("Unassigned"),
    "team": _("My teams"),
    "open": _("All open"),
    "pending": _("Pending"),
    "solved": _("Solved"),
    "all": _("Everything"),
}
UNCOUNTED = {"solved", "all"}  # views over the whole history get no count
FILTERS = ("status", "priority", "kind", "tier", "tag", "channel")


def view_filter(view: str, user: Any) -> Q:
    open_q = Q(status__in=OPEN_STATUSES)
    return {
        "mine": open_q & Q(assignee_id=user.pk),
        "unassigned": open_q & Q(assignee__isnull=True),
        "team": open_q & Q(team_id__in=team_ids(user)),
        "open": open_q,
        "pending": Q(status__in=[Status.PENDING, Status.ON_HOLD]),
        "solved": Q(status__in=[Status.SOLVED, Status.CLOSED]),
        "all": Q(),
    }.get(view, open_q)


@dataclass
class InboxQuery:
    view: str
    filters: dict[str, str]
    q: str

    @classmethod
    def from_params(cls, params: QueryDict) -> InboxQuery:
        view = params.get("view", "open")
        if view not in VIEWS:
            view = "open"
        filters = {name: str(params.get(name)) for name in FILTERS if params.get(name)}
        return cls(view=view, filters=filters, q=params.get("q", "").strip()[:200])

    def queryset(self, user: Any) -> QuerySet[Conversation]:
        qs = visible_conversations(user).filter(view_filter(self.view, user))
        for name, value in self.filters.items():
            if name == "tier":
                qs = qs.filter(customer__tier=value)
            elif name == "tag":
                qs = qs.filter(tags__name=value)
            else:
                qs = qs.filter(**{name: value})
        if self.q:
            term = self.q.lstrip("#")
            match = Q(subject__icontains=self.q) | Q(customer__name__icontains=self.q)
            for form in search_forms(self.q):
                match |= Q(customer__contact_points__value__icontains=form)
            if term.isdigit():
                match |= Q(pk=int(term))
            qs = qs.filter(match)
        if "tag" in self.filters or self.q:
            qs = qs.distinct()
        return qs.select_related(
            "customer", "team", "assignee", "assignee__agent_profile", "sla_clock"
        ).prefetch_related("tags", "customer__contact_points")


def view_counts(user: Any) -> dict[str, int]:
    """Counts for the sidebar, in one query."""
    counted = [name for name in VIEWS if name not in UNCOUNTED]
    aggregates = {name: Count("pk", filter=view_filter(name, user)) for name in counted}
    # Only conversations still being worked on: counting solved history would scan it all.
    return visible_conversations(user).filter(status__in=OPEN_STATUSES).aggregate(**aggregates)
