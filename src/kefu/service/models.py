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


def codes_field(verbose_name: Any, choices: Any, help_text: Any) -> models.CharField:
    """A condition that lists codes of ``choices`` (comma-separated; empty matches any)."""
    return models.CharField(
        verbose_name,
        max_length=100,
        blank=True,
        validators=[CodesValidator(choices)],
        help_text=help_text,
    )


def split_codes(value: str) -> list[str]:
    return [code.strip() for code in (value or "").replace("，", ",").split(",") if code.strip()]


class SlaPolicy(models.Model):
    """Targets for the conversations that meet its conditions; the first active policy (by
    position) whose every non-empty condition matches applies."""

    name = models.CharField(_("name"), max_length=100)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=100)
    tiers = codes_field(
        _("customer tiers"),
        Tier.choices,
        _("Comma-separated codes, e.g. vip,key_account. Empty: any."),
    )
    priorities = codes_field(
        _("priorities"), Priority.choices, _("Comma-separated codes, e.g. high,urgent. Empty: any.")
    )
    kinds = codes_field(
        _("kinds"), Kind.choices, _("Comma-separated codes, e.g. complaint. Empty: any.")
    )
    channels = codes_field(
        _("channels"), Channel.choices, _("Comma-separated codes, e.g. email,chat. Empty: any.")
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


# Routing, assignment and automation (kefu/service/routing.py, assignment.py, automation.py) --


class Strategy(models.TextChoices):
    MANUAL = "manual", _("Manual (a person assigns)")
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_LOADED = "least_loaded", _("Least loaded")
    SKILLS = "skills", _("Skills, then least loaded")


class AssignmentPolicy(models.Model):
    """How a team's new conversations find their agent. Automatic strategies pick among the
    team's online agents below their capacity (open conversations assigned to them)."""

    team = models.OneToOneField(
        "staff.Team",
        verbose_name=_("team"),
        on_delete=models.CASCADE,
        related_name="assignment_policy",
    )
    strategy = models.CharField(
        _("strategy"), max_length=16, choices=Strategy.choices, default=Strategy.MANUAL
    )
    max_open = models.PositiveSmallIntegerField(
        _("open conversations per agent"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text=_("Empty: each agent's own capacity (their profile)."),
    )
    # Round robin: whom the team gave the last conversation to.
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("assignment policy")
        verbose_name_plural = _("assignment policies")

    def __str__(self) -> str:
        return f"{self.team}: {self.get_strategy_display()}"


class Assign(models.TextChoices):
    KEEP = "", _("Leave as it is")
    STRATEGY = "strategy", _("By the team's strategy")
    ACCOUNT_MANAGER = "account_manager", _("The customer's account manager")
    AGENT = "agent", _("A named agent")


LANGUAGE_CHOICES = [(code, name) for code, name in settings.LANGUAGES]
RULE_STATUSES = [(v, label) for v, label in Status.choices if v not in ("new", "closed")]


class RuleBase(models.Model):
    """What routing and automation rules share: a name, an order, conditions (every
    non-empty one must hold) and actions (kefu/service/rules.py reads both)."""

    name = models.CharField(_("name"), max_length=100)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=100)
    stop = models.BooleanField(
        _("stop here"),
        default=True,
        help_text=_("When this rule matches, later rules are not looked at."),
    )
    # Conditions
    channels = codes_field(
        _("channels"), Channel.choices, _("Comma-separated codes, e.g. email,chat. Empty: any.")
    )
    mailboxes = models.CharField(
        _("support addresses"),
        max_length=500,
        blank=True,
        help_text=_("The customer wrote to one of these addresses (comma-separated). Empty: any."),
    )
    keywords = models.TextField(
        _("keywords"),
        blank=True,
        help_text=_(
            "One of these words is in the subject or the customer's message (comma- or "
            "line-separated; traditional and simplified Chinese alike, any case). Empty: any."
        ),
    )
    languages = codes_field(
        _("languages"), LANGUAGE_CHOICES, _("Comma-separated codes, e.g. zh-hant,en. Empty: any.")
    )
    tiers = codes_field(
        _("customer tiers"),
        Tier.choices,
        _("Comma-separated codes, e.g. vip,key_account. Empty: any."),
    )
    kinds = codes_field(
        _("kinds"), Kind.choices, _("Comma-separated codes, e.g. complaint. Empty: any.")
    )
    priorities = codes_field(
        _("priorities"), Priority.choices, _("Comma-separated codes, e.g. high,urgent. Empty: any.")
    )
    statuses = codes_field(
        _("statuses"), Status.choices, _("Comma-separated codes, e.g. open,pending. Empty: any.")
    )
    tags = models.CharField(
        _("tags (products)"),
        max_length=255,
        blank=True,
        help_text=_("The conversation has one of these tags (comma-separated). Empty: any."),
    )
    organizations = models.ManyToManyField(
        "customers.Organization",
        verbose_name=_("organizations"),
        blank=True,
        related_name="+",
        help_text=_("The customer belongs to one of them. Empty: any."),
    )
    teams = models.ManyToManyField(
        "staff.Team",
        verbose_name=_("current teams"),
        blank=True,
        related_name="+",
        help_text=_("The conversation is with one of them. Empty: any."),
    )
    # Actions
    set_team = models.ForeignKey(
        "staff.Team",
        verbose_name=_("set the team"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    team_from_customer = models.BooleanField(
        _("set the customer's own team"),
        default=False,
        help_text=_("The customer's owning team (e.g. key accounts), when they have one."),
    )
    set_priority = models.CharField(
        _("set the priority"), max_length=10, choices=Priority.choices, blank=True
    )
    set_kind = models.CharField(_("set the kind"), max_length=16, choices=Kind.choices, blank=True)
    add_tags = models.CharField(
        _("add the tags"), max_length=255, blank=True, help_text=_("Comma-separated.")
    )
    assign = models.CharField(
        _("assign to"), max_length=16, choices=Assign.choices, blank=True, default=Assign.KEEP
    )
    assign_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("For “a named agent”."),
    )

    class Meta:
        abstract = True
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from kefu.service.rules import check_rule

        check_rule(self)


class RoutingRule(RuleBase):
    """Where a new (or reopened) conversation goes: evaluated in order when it arrives."""

    class Occasion(models.TextChoices):
        BOTH = "both", _("New and reopened")
        NEW = "new", _("New only")
        REOPENED = "reopened", _("Reopened only")

    occasion = models.CharField(
        _("applies to"), max_length=10, choices=Occasion.choices, default=Occasion.BOTH
    )

    class Meta(RuleBase.Meta):
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")


class Trigger(models.TextChoices):
    CREATED = "created", _("Conversation created")
    UPDATED = "updated", _("Conversation updated")
    CUSTOMER_REPLIED = "customer_replied", _("Customer replied")
    IDLE = "idle", _("Idle for N hours")
    SLA_WARNING = "sla_warning", _("SLA near breach")
    SLA_BREACHED = "sla_breached", _("SLA breached")


class AutomationRule(RuleBase):
    """If an event happens to a conversation that meets the conditions, then act."""

    trigger = models.CharField(_("when"), max_length=16, choices=Trigger.choices)
    idle_hours = models.PositiveIntegerField(
        _("idle hours"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 365)],
        help_text=_("For “idle”: hours since the last message."),
    )
    set_status = models.CharField(
        _("set the status"), max_length=10, choices=RULE_STATUSES, blank=True
    )
    remove_tags = models.CharField(
        _("remove the tags"), max_length=255, blank=True, help_text=_("Comma-separated.")
    )
    reply_template = models.ForeignKey(
        CannedReply,
        verbose_name=_("send the template reply"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.TextField(_("add the internal note"), blank=True)
    webhook_url = models.URLField(
        _("call the webhook"),
        max_length=500,
        blank=True,
        help_text=_("POSTs the conversation as JSON, signed with the secret (HMAC-SHA256)."),
    )
    webhook_secret = models.CharField(_("webhook secret"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Idle rules: conversations whose last message is older than this were looked at.
    idle_checked_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(RuleBase.Meta):
        verbose_name = _("automation rule")
        verbose_name_plural = _("automation rules")


class WebhookCall(models.Model):
    """One webhook POST an automation rule asked for, sent (and retried) by a task."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    rule = models.ForeignKey(
        AutomationRule, null=True, on_delete=models.SET_NULL, related_name="webhook_calls"
    )
    rule_name = models.CharField(max_length=100)
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    url = models.URLField(max_length=500)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_call_due_idx",
                condition=models.Q(state="queued"),
            )
        ]
        verbose_name = _("webhook call")
        verbose_name_plural = _("webhook calls")

    def __str__(self) -> str:
        return f"{self.rule_name} → {self.url}"
