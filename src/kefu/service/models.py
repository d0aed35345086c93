"""Service configuration shared by every channel: canned replies, business calendars, SLA
policies and their clocks, escalation rules."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

from kefu.conversations.models import Channel, Kind, Priority, Status
from kefu.customers.models import Tier
from kefu.service.calendars import BusinessCalendar, CalendarDay, WorkingHours

__all__ = [
    "BusinessCalendar",
    "CalendarDay",
    "CannedReply",
    "EscalationRule",
    "SlaClock",
    "SlaPolicy",
    "WorkingHours",
]


# What a macro may set the status to (never back to new; closing is not an agent's shortcut).
MACRO_STATUSES = [(v, label) for v, label in Status.choices if v not in ("new", "closed")]


class CannedReply(models.Model):
    """A macro: a stock answer an agent inserts by typing ``/shortcut`` in any reply box, with
    ``{{customer.name}}``-style placeholders (kefu/service/macros.py) and optional actions
    applied to the conversation when it is used. Personal (``owner`` set) or shared."""

    shortcut = models.SlugField(
        _("shortcut"), max_length=40, allow_unicode=True, help_text=_("Typed as /…")
    )
    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(
        _("text"),
        help_text=_(
            "Placeholders: {{customer.name}}, {{customer.tier}}, {{customer.preferences}}, "
            "{{conversation.reference}}, {{conversation.subject}}, {{agent.name}}…"
        ),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="macros",
        help_text=_("Empty: shared with every agent (of the team, if one is set)."),
    )
    set_status = models.CharField(
        _("then set the status to"), max_length=10, choices=MACRO_STATUSES, blank=True
    )
    set_priority = models.CharField(
        _("then set the priority to"), max_length=10, choices=Priority.choices, blank=True
    )
    add_tags = models.CharField(
        _("then add the tags"),
        max_length=255,
        blank=True,
        help_text=_("Comma-separated."),
    )
    team = models.ForeignKey(
        "staff.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("Empty: every agent may use it."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["shortcut"]
        constraints = [
            models.UniqueConstraint(
                fields=["shortcut"],
                condition=models.Q(owner__isnull=True),
                name="canned_shared_shortcut_unique",
            ),
            models.UniqueConstraint(
                fields=["owner", "shortcut"], name="canned_personal_shortcut_unique"
            ),
        ]
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")

    def __str__(self) -> str:
        return f"/{self.shortcut}"

    def clean(self) -> None:
        from kefu.service.macros import check_macro

        check_macro(self)


class Target(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    NEXT_RESPONSE = "next_response", _("Next response")
    RESOLUTION = "resolution", _("Resolution")


# Bits of SlaClock.warned / SlaClock.breached, one per target.
TARGET_BIT: dict[str, int] = {
    Target.FIRST_RESPONSE: 1,
    Target.NEXT_RESPONSE: 2,
    Target.RESOLUTION: 4,
}


@deconstructible
class CodesValidator:
    """A comma-separated list of codes, each one of ``choices``."""

    def __init__(self, choices: Any) -> None:
        self.allowed = sorted(str(value) for value, _label in choices)

    def __call__(self, value: str) -> None:
        unknown = [code for code in split_codes(value) if code not in self.allowed]
        if unknown:
            raise ValidationError(
                _("Unknown values: %(codes)s (use %(allowed)s)"),
                params={"codes": ", ".join(unknown), "allowed": ", ".join(self.allowed)},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CodesValidator) and other.allowed == self.allowed

    def __hash__(self) -> int:
        return hash(tuple(self.allowed))


def split_codes(value: str) -> list[str]:
    return [code.strip() for code in (value or "").replace("，", ",").split(",") if code.strip()]


class SlaPolicy(models.Model):
    """Targets for the conversations that meet its conditions; the first active policy (by
    position) whose every non-empty condition matches applies."""

    name = models.CharField(_("name"), max_length=100)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=100)
    tiers = models.CharField(
        _("customer tiers"),
        max_length=100,
        blank=True,
        validators=[CodesValidator(Tier.choices)],
        help_text=_("Comma-separated codes, e.g. vip,key_account. Empty: any."),
    )
    priorities = models.CharField(
        _("priorities"),
        max_length=100,
        blank=True,
        validators=[CodesValidator(Priority.choices)],
        help_text=_("Comma-separated codes, e.g. high,urgent. Empty: any."),
    )
    kinds = models.CharField(
        _("kinds"),
        max_length=100,
        blank=True,
        validators=[CodesValidator(Kind.choices)],
        help_text=_("Comma-separated codes, e.g. complaint. Empty: any."),
    )
    channels = models.CharField(
        _("channels"),
        max_length=100,
        blank=True,
        validators=[CodesValidator(Channel.choices)],
        help_text=_("Comma-separated codes, e.g. email,chat. Empty: any."),
    )
    teams = models.ManyToManyField(
        "staff.Team", verbose_name=_("teams"), blank=True, related_name="+"
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        verbose_name=_("business calendar"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text=_("Empty: the clock runs around the clock."),
    )
    first_response_minutes = models.PositiveIntegerField(
        _("first response (business minutes)"), null=True, blank=True
    )
    next_response_minutes = models.PositiveIntegerField(
        _("next response (business minutes)"), null=True, blank=True
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolution (business minutes)"), null=True, blank=True
    )
    warn_percent = models.PositiveSmallIntegerField(
        _("near breach at (%)"),
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name

    def target_minutes(self, target: str) -> int | None:
        value: int | None = getattr(self, f"{target}_minutes")
        return value


class EscalationRule(models.Model):
    """What happens when a conversation nears or breaches a target."""

    class On(models.TextChoices):
        WARNING = "warning", _("Near breach")
        BREACHED = "breached", _("Breached")

    name = models.CharField(_("name"), max_length=100)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=100)
    on = models.CharField(_("when"), max_length=8, choices=On.choices, default=On.WARNING)
    target = models.CharField(
        _("target"), max_length=16, choices=Target.choices, blank=True, help_text=_("Empty: any.")
    )
    policy = models.ForeignKey(
        SlaPolicy,
        verbose_name=_("SLA policy"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text=_("Empty: any."),
    )
    notify_assignee = models.BooleanField(_("notify the assignee"), default=True)
    notify_team_lead = models.BooleanField(_("notify the team lead"), default=False)
    notify_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("notify"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("E.g. a supervisor."),
    )
    email = models.BooleanField(_("also by email"), default=False)
    raise_priority = models.CharField(
        _("raise the priority to"), max_length=10, choices=Priority.choices, blank=True
    )
    reassign_team = models.ForeignKey(
        "staff.Team",
        verbose_name=_("reassign to team"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    reassign_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reassign to agent"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("escalation rule")
        verbose_name_plural = _("escalation rules")

    def __str__(self) -> str:
        return self.name


class SlaClock(models.Model):
    """The SLA state of one conversation. Due times live on the conversation; the clock keeps
    what they are computed from, the near-breach instants and what has already fired.

    Business time spent paused (pending, solved) pushes every target back: a due time is
    ``started + target + paused`` in business minutes of the policy's calendar.
    """

    conversation = models.OneToOneField(
        "conversations.Conversation",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="sla_clock",
    )
    policy = models.ForeignKey(SlaPolicy, null=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField()
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_minutes = models.FloatField(default=0)
    next_started_at = models.DateTimeField(null=True, blank=True)
    next_paused_minutes = models.FloatField(default=0)
    first_response_warn_at = models.DateTimeField(null=True, blank=True)
    next_response_warn_at = models.DateTimeField(null=True, blank=True)
    resolution_warn_at = models.DateTimeField(null=True, blank=True)
    warned = models.PositiveSmallIntegerField(default=0)
    breached = models.PositiveSmallIntegerField(default=0)
    # The earliest warning or breach still to fire; the sweep reads only rows due by now.
    next_check_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_check_at"],
                name="sla_clock_check_idx",
                condition=models.Q(next_check_at__isnull=False),
            )
        ]
        verbose_name = _("SLA clock")
        verbose_name_plural = _("SLA clocks")

    def __str__(self) -> str:
        return f"SLA #{self.conversation_id}"
