"""CSAT after a solved conversation and NPS answers: single use, scores on the conversation
(through ``conversations.actions.rate``), the customer's health, and a task for a person
when the score is low."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.care.campaigns import survey_throttle_days
from kefu.care.consent import email_of, has_consent, is_suppressed
from kefu.care.models import CareTask, Delivery, Health, Purpose, Survey
from kefu.conversations import actions as conversation_actions
from kefu.conversations.models import Conversation
from kefu.core.errors import ActionError
from kefu.customers.models import Customer
from kefu.customers.timeline import record

logger = logging.getLogger(__name__)

LOW_CSAT = 2  # 1–2 of 5
LOW_NPS = 6  # detractors: 0–6 of 10


class AlreadyAnswered(ActionError):
    pass


def recently_surveyed(customer: Customer) -> bool:
    since = timezone.now() - timedelta(days=survey_throttle_days())
    return Delivery.objects.filter(
        customer=customer, kind__in=[Delivery.Kind.CSAT, Delivery.Kind.NPS], created_at__gte=since
    ).exists()


def queue_csat(conversation: Conversation) -> Delivery | None:
    """After a solve: a survey email, unless the customer rated already (chat), cannot be
    written to, or was surveyed in the last N days. Returns the delivery row or None."""
    customer = conversation.customer
    if conversation.satisfaction is not None or customer.merged_into_id is not None:
        return None
    address = email_of(customer)
    if not address or not has_consent(customer, Purpose.SERVICE) or is_suppressed(address):
        return None
    with transaction.atomic():
        # One survey per customer at a time: lock the customer row while checking.
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        if recently_surveyed(customer):
            return None
        survey = Survey.objects.create(
            kind=Survey.Kind.CSAT,
            customer=customer,
            conversation=conversation,
            agent_id=conversation.assignee_id,
        )
        delivery = Delivery.objects.create(
            key=f"csat:{conversation.pk}:{survey.pk}",
            kind=Delivery.Kind.CSAT,
            purpose=Purpose.SERVICE,
            customer=customer,
            conversation=conversation,
            survey=survey,
            address=address,
        )
        from kefu.care.tasks import send_pending

        transaction.on_commit(lambda: send_pending.enqueue(), robust=True)
    return delivery


def answer(survey: Survey, *, score: int, comment: str = "") -> Survey:
    """Record the answer, once. Raises AlreadyAnswered on a second try, ActionError on a
    score out of range."""
    top = 5 if survey.kind == Survey.Kind.CSAT else 10
    low = 1 if survey.kind == Survey.Kind.CSAT else 0
    if not isinstance(score, int) or isinstance(score, bool) or not low <= score <= top:
        raise ActionError(
            _("Please choose a score from %(low)s to %(top)s.") % {"low": low, "top": top}
        )
    comment = (comment or "").replace("\x00", "").strip()[:2000]
    now = timezone.now()
    with transaction.atomic():
        won = Survey.objects.filter(pk=survey.pk, answered_at__isnull=True).update(
            score=score, comment=comment, answered_at=now
        )
        if not won:
            raise AlreadyAnswered(_("This survey has already been answered. Thank you!"))
        survey.score, survey.comment, survey.answered_at = score, comment, now
        customer = survey.customer
        if survey.kind == Survey.Kind.CSAT and survey.conversation_id:
            conversation_actions.rate(
                survey.conversation,  # type: ignore[arg-type]
                score=score,
                comment=comment,
                source="email",
            )
        else:
            record(customer, "nps", score=score, comment=comment)
        _update_health(survey)
        if (survey.kind == Survey.Kind.CSAT and score <= LOW_CSAT) or (
            survey.kind == Survey.Kind.NPS and score <= LOW_NPS
        ):
            _open_task(survey)
    return survey


def _update_health(survey: Survey) -> None:
    health, _created = Health.objects.select_for_update().get_or_create(customer=survey.customer)
    score = survey.score or 0
    if survey.kind == Survey.Kind.CSAT:
        health.last_csat = score
        change = 30 if score <= LOW_CSAT else -5 if score >= 4 else 5
    else:
        health.last_nps = score
        change = 30 if score <= LOW_NPS else -10 if score >= 9 else 0
    health.churn_risk = max(0, min(100, health.churn_risk + change))
    health.save(update_fields=["last_csat", "last_nps", "churn_risk", "updated_at"])


def _open_task(survey: Survey) -> CareTask:
    """A low score: the customer's owner (account manager) or their team lead calls back."""
    customer = survey.customer
    assignee_id = customer.owner_id
    if assignee_id is None and customer.team_id:
        assignee_id = customer.team.lead_id  # type: ignore[union-attr]
    if assignee_id is None and survey.conversation_id:
        team = survey.conversation.team  # type: ignore[union-attr]
        assignee_id = team.lead_id if team else None
    kind = "CSAT" if survey.kind == Survey.Kind.CSAT else "NPS"
    task = CareTask.objects.create(
        customer=customer,
        survey=survey,
        assignee_id=assignee_id,
        title=_("Low %(kind)s score (%(score)s) from %(name)s: follow up")
        % {"kind": kind, "score": survey.score, "name": customer.display_name},
    )
    record(customer, "care_task", task=task.pk, score=survey.score, survey=kind)
    return task


def figures_for(user: Any, days: int = 90) -> dict[str, object]:
    """An agent's satisfaction figures: average CSAT of their conversations rated in the last
    ``days`` (chat and email), how many, and how many answered by email."""
    from django.db.models import Avg, Count

    since = timezone.now() - timedelta(days=days)
    rated = Conversation.objects.filter(
        assignee=user, satisfaction__isnull=False, updated_at__gte=since
    ).aggregate(avg=Avg("satisfaction"), n=Count("id"))
    by_email = Survey.objects.filter(
        agent=user, kind=Survey.Kind.CSAT, answered_at__gte=since
    ).count()
    return {"average": rated["avg"], "count": rated["n"], "by_email": by_email, "days": days}
