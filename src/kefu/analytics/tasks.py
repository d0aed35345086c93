"""Background work: fact refreshes after events, periodic value and term jobs, weekly email,
the closed months' sums of the standard reports."""

from __future__ import annotations

from django_tasks import task

from kefu.core.scheduler import every


@task()
def refresh_conversation(conversation_id: int) -> None:
    """Kept for refreshes queued before ``refresh_conversations``."""
    from django.core.cache import cache

    from kefu.analytics.listeners import pending_key
    from kefu.analytics.rollups import refresh

    cache.delete(pending_key(conversation_id))  # events from now on schedule a new refresh
    refresh(conversation_id)


@task()
def refresh_conversations(conversation_ids: list[int]) -> None:
    """One transaction's conversations (or a burst of one's events), refreshed together."""
    from django.core.cache import cache

    from kefu.analytics.listeners import pending_key
    from kefu.analytics.rollups import refresh

    # events from now on schedule a new refresh
    cache.delete_many([pending_key(pk) for pk in conversation_ids])
    for pk in conversation_ids:
        refresh(pk)


@task()
def refresh_customer(customer_id: int) -> None:
    """A customer's tier changed: every one of their conversations moves to the new tier."""
    from kefu.analytics.rollups import refresh
    from kefu.conversations.models import Conversation

    for pk in Conversation.objects.filter(customer_id=customer_id).values_list("pk", flat=True):
        refresh(pk)


@every(3600, "analytics.customer_values")
@task()
def refresh_customer_values() -> None:
    from kefu.analytics.value import refresh_values

    refresh_values()


@every(6 * 3600, "analytics.terms")
@task()
def refresh_terms() -> None:
    from kefu.analytics.terms import refresh_recent_weeks

    refresh_recent_weeks()


@every(3600, "analytics.weekly_summary")
@task()
def weekly_summary() -> None:
    """Sends the weekly summary once a week (Monday morning, the first hourly slot after 08:00
    local time that finds it not yet sent this week)."""
    from kefu.analytics.summary import send_weekly_summary_if_due

    send_weekly_summary_if_due()


@task()
def warm_closed() -> None:
    """The closed months' sums of the manager dashboard's standard reports, into the cache
    (enqueued after a rebuild and, debounced, after a late event: ``closed.schedule_warm``)."""
    from kefu.analytics.closed import warm

    warm()


@every(3600, "analytics.warm_closed")
@task()
def warm_closed_due() -> None:
    """``warm_closed`` once a local day (a new month's first hour included), or every hour
    with the per-process cache, whose entries last an hour."""
    from kefu.analytics.closed import warm_if_due

    warm_if_due()
