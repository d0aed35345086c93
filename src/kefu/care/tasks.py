"""Background work of care: sending, campaigns, greetings, recovery after a crash."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from kefu.care import campaigns, occasions, sending
from kefu.care.models import Campaign
from kefu.core.scheduler import every


@task()
def run_campaign(campaign_id: int) -> str:
    return campaigns.run(campaign_id)


@task()
def help_campaign(campaign_id: int) -> str:
    """Another worker process sending a big campaign beside the one running it
    (``KEFU_CARE_PROCESSES``)."""
    return campaigns.help_send(campaign_id)


@task()
def send_pending() -> int:
    """Send due care email that is not part of a campaign (surveys, greetings, follow-ups)."""
    return sending.send_due(campaign_id=None).sent


@every(30, name="care-send")
@task()
def care_tick() -> int:
    """Recover rows a dead worker left, start scheduled campaigns, resume running ones whose
    worker stopped, and send what is due."""
    sending.recover()
    now = timezone.now()
    campaigns.schedule_next_rounds(now)
    Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__lte=now).update(
        status=Campaign.Status.RUNNING, started_at=now
    )
    resumable = Campaign.objects.filter(status=Campaign.Status.RUNNING).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    count = 0
    for campaign_id in resumable.values_list("pk", flat=True):
        run_campaign.enqueue(campaign_id)
        count += 1
    send_pending.enqueue()
    return count


@every(900, name="care-greetings")
@task()
def queue_greetings() -> int:
    written = occasions.queue_greetings()
    if written:
        send_pending.enqueue()
    return written
