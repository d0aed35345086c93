"""Campaigns and broadcasts: write one delivery row per reachable customer, then send them
in background tasks at the campaign's rate, resumable after a crash (see sending.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from kefu.care import live, segments, sending
from kefu.care.consent import emails_of
from kefu.care.models import Campaign, Delivery, Survey
from kefu.care.rendering import Rendered, context_for, render_for
from kefu.core.errors import ActionError
from kefu.customers.models import Customer

logger = logging.getLogger(__name__)

Status = Campaign.Status
CHUNK = 1000
LEASE = timedelta(minutes=2)


def survey_throttle_days() -> int:
    from django.conf import settings

    return int(getattr(settings, "KEFU_CARE_SURVEY_EVERY_DAYS", 30))


def start(campaign: Campaign, *, actor: Any = None) -> Campaign:
    """Start now (or at ``scheduled_at`` if that is later): the scheduler picks it up."""
    if campaign.status not in (Status.DRAFT, Status.PAUSED, Status.SCHEDULED):
        raise ActionError("this campaign cannot be started")
    if not campaign.template.versions.exists():
        raise ActionError("the template has no version")
    now = timezone.now()
    later = campaign.scheduled_at is not None and campaign.scheduled_at > now
    campaign.status = Status.SCHEDULED if later else Status.RUNNING
    campaign.started_at = campaign.started_at or (None if later else now)
    campaign.save(update_fields=["status", "started_at"])
    live.changed(campaign.pk, force=True)
    if not later:
        from kefu.care.tasks import run_campaign

        transaction.on_commit(lambda: run_campaign.enqueue(campaign.pk))
    return campaign


def pause(campaign: Campaign, *, actor: Any = None) -> Campaign:
    if campaign.status not in (Status.RUNNING, Status.SCHEDULED):
        raise ActionError("only a running or scheduled campaign can be paused")
    Campaign.objects.filter(pk=campaign.pk).update(status=Status.PAUSED, lease_until=None)
    campaign.status = Status.PAUSED
    live.changed(campaign.pk, force=True)
    return campaign


def materialize(campaign: Campaign) -> int:
    """One pending row per reachable member (idempotent: the unique key keeps one each).
    Reads the segment in chunks of ids, so memory does not grow with its size."""
    if campaign.materialized_at is not None:
        return 0
    queryset = segments.reachable(campaign.segment, campaign.purpose).select_related(None)
    if campaign.kind == Campaign.Kind.NPS:
        since = timezone.now() - timedelta(days=survey_throttle_days())
        recent = Delivery.objects.filter(
            kind__in=[Delivery.Kind.CSAT, Delivery.Kind.NPS], created_at__gte=since
        ).exclude(campaign=campaign)
        queryset = queryset.exclude(pk__in=recent.values("customer_id"))
    written = 0
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last).only("pk", "primary_contact")[:CHUNK])
        if not chunk:
            break
        last = chunk[-1].pk
        addresses = emails_of(chunk)
        rows = [
            Delivery(
                key=f"campaign:{campaign.pk}:{c.pk}",
                kind=Delivery.Kind.NPS
                if campaign.kind == Campaign.Kind.NPS
                else Delivery.Kind.CAMPAIGN,
                purpose=campaign.purpose,
                campaign=campaign,
                customer_id=c.pk,
                template_id=campaign.template_id,
                address=addresses[c.pk],
            )
            for c in chunk
            if addresses.get(c.pk)
        ]
        Delivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        written += len(rows)
    Campaign.objects.filter(pk=campaign.pk).update(materialized_at=timezone.now())
    campaign.materialized_at = timezone.now()
    return written


def _attach_surveys(campaign: Campaign) -> None:
    """NPS: every row gets its own survey (written in bulk before sending)."""
    if campaign.kind != Campaign.Kind.NPS:
        return
    while True:
        rows = list(
            Delivery.objects.filter(
                campaign=campaign, survey__isnull=True, state="pending"
            ).values_list("pk", "customer_id")[:CHUNK]
        )
        if not rows:
            return
        with transaction.atomic():
            surveys = Survey.objects.bulk_create(
                [
                    Survey(kind=Survey.Kind.NPS, customer_id=cid, campaign=campaign)
                    for _pk, cid in rows
                ]
            )
            for (pk, _cid), survey in zip(rows, surveys, strict=True):
                Delivery.objects.filter(pk=pk).update(survey=survey)


def senders() -> int:
    from django.conf import settings

    return int(getattr(settings, "KEFU_CARE_SENDERS", 8))


def processes() -> int:
    """Worker processes a campaign without a rate limit is sent from (the one that runs it
    and ``KEFU_CARE_PROCESSES - 1`` helpers); worth it where the workers have more than one
    CPU, since building messages costs CPU and one process holds one CPU at most."""
    from django.conf import settings

    return max(1, int(getattr(settings, "KEFU_CARE_PROCESSES", 1)))


def run(campaign_id: int, *, batch: int = 200, parallel: int | None = None) -> str:
    """Send a running campaign until it is done, paused, or another worker holds it."""
    now = timezone.now()
    taken = Campaign.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        pk=campaign_id,
        status=Status.RUNNING,
    ).update(lease_until=now + LEASE)
    if not taken:
        return "not running or held by another worker"
    campaign = Campaign.objects.select_related("segment", "template").get(pk=campaign_id)
    materialize(campaign)
    _attach_surveys(campaign)
    if not campaign.rate_per_minute and processes() > 1:
        from kefu.care.tasks import help_campaign

        for _ in range(processes() - 1):
            help_campaign.enqueue(campaign_id)

    def keep_going() -> bool:
        # Renew the lease each batch; stop if someone paused the campaign.
        return bool(
            Campaign.objects.filter(pk=campaign_id, status=Status.RUNNING).update(
                lease_until=timezone.now() + LEASE
            )
        )

    counts = sending.send_due(
        campaign_id=campaign_id,
        batch=batch,
        rate_per_minute=campaign.rate_per_minute,
        keep_going=keep_going,
        senders=senders() if parallel is None else parallel,
    )
    if not finish(campaign):
        Campaign.objects.filter(pk=campaign_id).update(lease_until=None)
    logger.info("campaign %s: %s", campaign_id, counts)
    return f"sent {counts.sent}, failed {counts.failed}, skipped {counts.skipped}"


def help_send(campaign_id: int, *, batch: int = 200, parallel: int | None = None) -> str:
    """Send rows of a running campaign from another worker process, beside the one that runs
    it (the claims keep them apart: no row is sent by two). Stops when nothing is left to
    claim or the campaign is paused; never takes the campaign's lease."""
    campaign = Campaign.objects.filter(pk=campaign_id, status=Status.RUNNING).first()
    if campaign is None or campaign.materialized_at is None or campaign.rate_per_minute:
        return "nothing to help with"

    def keep_going() -> bool:
        return Campaign.objects.filter(pk=campaign_id, status=Status.RUNNING).exists()

    counts = sending.send_due(
        campaign_id=campaign_id,
        batch=batch,
        keep_going=keep_going,
        senders=senders() if parallel is None else parallel,
    )
    finish(campaign)
    return f"sent {counts.sent}, failed {counts.failed}, skipped {counts.skipped}"


def finish(campaign: Campaign) -> bool:
    """Mark a running campaign done if none of its rows is waiting or in flight (and schedule
    its next round if it repeats). True if it is done now."""
    open_rows = Delivery.objects.filter(
        campaign_id=campaign.pk,
        state__in=[Delivery.State.PENDING, Delivery.State.CLAIMED, Delivery.State.SENDING],
    ).exists()
    if open_rows:
        live.changed(campaign.pk, force=True)
        return False
    finished = Campaign.objects.filter(pk=campaign.pk, status=Status.RUNNING).update(
        status=Status.DONE, finished_at=timezone.now(), lease_until=None
    )
    if finished:
        campaign.status = Status.DONE
        next_round(campaign)
    live.changed(campaign.pk, force=True)
    return True


def next_round(campaign: Campaign, *, now: Any = None) -> Campaign | None:
    """A recurring campaign (``repeat_every_days``; e.g. a quarterly NPS survey) that is done
    schedules its next round: the same template, segment and purpose, at the same time of day
    ``repeat_every_days`` after this round began (rounds missed while the system was down
    are skipped, not sent in a burst). Idempotent: a round has at most one next round."""
    if not campaign.repeat_every_days or campaign.status != Status.DONE:
        return None
    existing = Campaign.objects.filter(previous=campaign).first()
    if existing is not None:
        return existing
    now = now or timezone.now()
    every = timedelta(days=campaign.repeat_every_days)
    when = (campaign.scheduled_at or campaign.started_at or now) + every
    while when < now:
        when += every
    try:
        with transaction.atomic():
            return Campaign.objects.create(
                name=campaign.name,
                kind=campaign.kind,
                template_id=campaign.template_id,
                segment_id=campaign.segment_id,
                purpose=campaign.purpose,
                rate_per_minute=campaign.rate_per_minute,
                repeat_every_days=campaign.repeat_every_days,
                created_by_id=campaign.created_by_id,
                status=Status.SCHEDULED,
                scheduled_at=when,
                previous=campaign,
            )
    except IntegrityError:  # another worker made it a moment ago
        return Campaign.objects.filter(previous=campaign).first()


def schedule_next_rounds(now: Any = None) -> int:
    """The scheduler's sweep: recurring campaigns that are done but have no next round (e.g.
    finished by a worker that died right after) get one."""
    made = 0
    for campaign in Campaign.objects.filter(
        status=Status.DONE, repeat_every_days__gt=0, next_round__isnull=True
    ):
        made += next_round(campaign, now=now) is not None
    return made


def progress(campaign: Campaign) -> dict[str, int]:
    """Counters for the live progress view (one query)."""
    S = Delivery.State
    agg = Delivery.objects.filter(campaign=campaign).aggregate(
        total=Count("id"),
        waiting=Count("id", filter=Q(state__in=[S.PENDING, S.CLAIMED, S.SENDING])),
        sent=Count("id", filter=Q(state=S.SENT)),
        failed=Count("id", filter=Q(state__in=[S.FAILED, S.UNCERTAIN])),
        skipped=Count("id", filter=Q(state__in=[S.SKIPPED, S.CANCELLED])),
        bounced=Count("id", filter=Q(bounced_at__isnull=False)),
        complaints=Count("id", filter=Q(complained_at__isnull=False)),
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        unsubscribed=Count("id", filter=Q(unsubscribed_at__isnull=False)),
        answered=Count("id", filter=Q(survey__answered_at__isnull=False)),
    )
    return {k: int(v or 0) for k, v in agg.items()}


def preview(campaign_or_template: Any, customer: Customer) -> Rendered | None:
    """The message as this customer would get it, except that its unsubscribe and survey
    links lead nowhere: a preview on screen or a test send to a colleague must not be able to
    unsubscribe the customer or answer their survey."""
    template = getattr(campaign_or_template, "template", campaign_or_template)
    values = context_for(
        customer,
        list(customer.preferences.order_by("kind", "id")),
        extra={"unsubscribe_url": "#unsubscribe", "survey_url": "#survey"},
    )
    return render_for(template, values, language=customer.language, tier=customer.tier)


def test_send(campaign: Campaign, *, customer: Customer, address: str) -> None:
    """Send the campaign's message as ``customer`` would get it to ``address`` (a colleague),
    now, outside the campaign's counters."""
    from django.conf import settings
    from django.core.mail import EmailMultiAlternatives

    rendered = preview(campaign, customer)
    if rendered is None:
        raise ActionError("the template has no version for this customer")
    email = EmailMultiAlternatives(
        subject=f"[TEST] {rendered.subject}",
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
    )
    if rendered.html:
        email.attach_alternative(rendered.html, "text/html")
    email.send(fail_silently=False)
