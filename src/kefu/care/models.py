"""Proactive care: consent and suppression, templates, segments, campaigns, surveys,
occasions and follow-ups. Every email care sends is one :class:`Delivery` row."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Purpose(models.TextChoices):
    """Why we write: consent is given (and withdrawn) per purpose."""

    SERVICE = "service", _("Service (surveys, follow-ups)")
    MARKETING = "marketing", _("Marketing (campaigns, greetings)")


class Consent(models.Model):
    """One change of a customer's consent for a purpose: who, what, how, when (append-only).
    The current state lives on the customer (``consent_email`` / ``consent_marketing``)."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="consent_changes"
    )
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("source"), max_length=64)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")

    def __str__(self) -> str:
        return f"{self.customer_id} {self.purpose} {self.granted}"


class Suppression(models.Model):
    """An address care never writes to again (bounce, complaint, unsubscribe, by hand)."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINT = "complaint", _("Complaint")
        MANUAL = "manual", _("Added by hand")

    address = models.CharField(_("address"), max_length=254, unique=True)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")

    def __str__(self) -> str:
        return self.address


class Template(models.Model):
    """A message in several versions (per language and tier)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("template")
        verbose_name_plural = _("templates")

    def __str__(self) -> str:
        return self.name


class TemplateVersion(models.Model):
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    language = models.CharField(_("language"), max_length=10, blank=True)
    tier = models.CharField(_("tier"), max_length=16, blank=True, help_text=_("blank: any tier"))
    subject = models.CharField(_("subject"), max_length=255)
    body_text = models.TextField(_("plain text"))
    body_html = models.TextField(_("HTML"), blank=True)

    class Meta:
        ordering = ["template", "language", "tier"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "language", "tier"], name="care_unique_template_version"
            )
        ]
        verbose_name = _("template version")
        verbose_name_plural = _("template versions")

    def __str__(self) -> str:
        return f"{self.template} [{self.language or '*'}/{self.tier or '*'}]"


class Segment(models.Model):
    """Customers chosen by their fields; ``rules`` is checked by :mod:`kefu.care.segments`."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    rules = models.JSONField(_("rules"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        DONE = "done", _("Done")

    class Kind(models.TextChoices):
        BROADCAST = "broadcast", _("Broadcast")
        NPS = "nps", _("NPS survey")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.BROADCAST)
    template = models.ForeignKey(Template, verbose_name=_("template"), on_delete=models.PROTECT)
    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.PROTECT)
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.MARKETING
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    rate_per_minute = models.PositiveIntegerField(
        _("messages per minute"), default=0, help_text=_("0: as fast as the mail server takes")
    )
    repeat_every_days = models.PositiveSmallIntegerField(
        _("repeat every (days)"),
        default=0,
        help_text=_("0: once. E.g. 91 for a quarterly NPS survey: each round is a campaign."),
    )
    # The round this one repeats (a recurring campaign's rounds form a chain).
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_round"
    )
    # Set while a worker sends; another worker takes over only after it runs out.
    lease_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # When its recipients were written (one row each); a resumed campaign does not redo it.
    materialized_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.name


class Occasion(models.Model):
    class Kind(models.TextChoices):
        BIRTHDAY = "birthday", _("Birthday")
        CUSTOMER_SINCE = "customer_since", _("Customer-since anniversary")

    kind = models.CharField(_("occasion"), max_length=32, choices=Kind.choices, unique=True)
    template = models.ForeignKey(Template, verbose_name=_("template"), on_delete=models.PROTECT)
    send_hour = models.PositiveSmallIntegerField(
        _("local hour to send"), default=9, help_text=_("in the customer's time zone")
    )
    active = models.BooleanField(_("active"), default=False)

    class Meta:
        ordering = ["kind"]
        verbose_name = _("occasion")
        verbose_name_plural = _("occasions")

    def __str__(self) -> str:
        return self.get_kind_display()


class FollowUpRule(models.Model):
    """After a conversation is solved, write again after ``days`` (e.g. "is the repair
    holding up?"), unless the customer has written in since."""

    name = models.CharField(_("name"), max_length=200)
    days = models.PositiveSmallIntegerField(_("days after solved"), default=7)
    template = models.ForeignKey(Template, verbose_name=_("template"), on_delete=models.PROTECT)
    kinds = models.JSONField(
        _("conversation kinds"), default=list, blank=True, help_text=_("empty: every kind")
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["days"]
        verbose_name = _("follow-up rule")
        verbose_name_plural = _("follow-up rules")

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One email to one customer. ``key`` makes each message unique (one per campaign and
    customer, one CSAT survey per solved conversation, one greeting per occasion and year), so
    no path can create a second copy; ``state`` makes the send at most once (see
    :mod:`kefu.care.sending`)."""

    class Kind(models.TextChoices):
        CAMPAIGN = "campaign", _("Campaign")
        CSAT = "csat", _("Satisfaction survey")
        NPS = "nps", _("NPS survey")
        GREETING = "greeting", _("Greeting")
        FOLLOW_UP = "follow_up", _("Follow-up")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")  # waiting (its first try, or a retry when due_at)
        CLAIMED = "claimed", _("Claimed")  # a worker will send it; never handed to SMTP yet
        SENDING = "sending", _("Sending")  # handed to SMTP: never sent again
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        UNCERTAIN = "uncertain", _("Delivery uncertain")
        SKIPPED = "skipped", _("Skipped (no consent or suppressed)")
        CANCELLED = "cancelled", _("Cancelled")

    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="care_deliveries"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="care_deliveries",
    )
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.SET_NULL)
    survey = models.OneToOneField(
        "Survey", null=True, blank=True, on_delete=models.SET_NULL, related_name="delivery"
    )
    address = models.CharField(max_length=254)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    due_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=1000, blank=True)
    message_id = models.CharField(max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)  # "this is spam" (ARF)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["campaign", "state"], name="care_delivery_campaign_state"),
            models.Index(fields=["state", "due_at"], name="care_delivery_state_due"),
            models.Index(fields=["customer", "kind", "created_at"], name="care_delivery_recent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"],
                condition=Q(campaign__isnull=False),
                name="care_one_message_per_campaign_customer",
            )
        ]
        verbose_name = _("care email")
        verbose_name_plural = _("care emails")

    def __str__(self) -> str:
        return self.key


class Survey(models.Model):
    """A CSAT (1–5) or NPS (0–10) question sent to a customer; answered once."""

    class Kind(models.TextChoices):
        CSAT = "csat", _("Satisfaction (1–5)")
        NPS = "nps", _("Net promoter score (0–10)")

    kind = models.CharField(max_length=8, choices=Kind.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="surveys"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="surveys",
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="surveys"
    )
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class CareTask(models.Model):
    """Something a person should do for a customer (call back after a low score)."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="care_tasks"
    )
    survey = models.OneToOneField(
        Survey, null=True, blank=True, on_delete=models.CASCADE, related_name="task"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(_("task"), max_length=255)
    done = models.BooleanField(_("done"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["done", "-created_at"]
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")

    def __str__(self) -> str:
        return self.title


class Health(models.Model):
    """What care knows of a customer's mood: latest scores and churn risk (0–100)."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="care_health"
    )
    churn_risk = models.PositiveSmallIntegerField(_("churn risk"), default=0)
    last_csat = models.PositiveSmallIntegerField(null=True, blank=True)
    last_nps = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer health")
        verbose_name_plural = _("customer health")

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.churn_risk}"
