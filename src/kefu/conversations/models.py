from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kefu.core.models import Tag


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    CHAT = "chat", _("Live chat")
    PHONE = "phone", _("Phone")
    WEB = "web", _("Web form")
    FORUM = "forum", _("Forum")
    API = "api", _("API")


class Status(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending")
    ON_HOLD = "on_hold", _("On hold")
    SOLVED = "solved", _("Solved")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Kind(models.TextChoices):
    QUESTION = "question", _("Question")
    REQUEST = "request", _("Request")
    INCIDENT = "incident", _("Incident")
    COMPLAINT = "complaint", _("Complaint")
    AFTER_SALES = "after_sales", _("After-sales")


class Conversation(models.Model):
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="conversations",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.NEW, db_index=True
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.QUESTION)
    team = models.ForeignKey(
        "staff.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="+")
    language = models.CharField(_("language"), max_length=10, blank=True)
    # SLA due times: set by the service-level listeners once they exist.
    first_response_due = models.DateTimeField(null=True, blank=True)
    next_response_due = models.DateTimeField(null=True, blank=True)
    resolution_due = models.DateTimeField(null=True, blank=True)
    satisfaction = models.PositiveSmallIntegerField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    split_from = models.ForeignKey(
        "self",
        verbose_name=_("split from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="split_into",
    )
    # Complaints: a human acknowledges them; solving needs a resolution note and a root cause.
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution_note = models.TextField(_("resolution note"), blank=True)
    root_cause = models.ForeignKey(
        "conversations.RootCause",
        verbose_name=_("root cause"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            # The inbox's and the API's order: pages of 50 read from the index, not a sort.
            models.Index(fields=["-last_message_at", "-id"], name="conversation_recent_idx"),
            models.Index(fields=["team", "status", "-last_message_at"]),
            models.Index(fields=["assignee", "status", "-last_message_at"]),
            # The supervisors' open-complaints view.
            models.Index(
                fields=["kind", "created_at"],
                name="conversation_complaint_idx",
                condition=models.Q(kind="complaint"),
            ),
        ]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        return f"#{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_complaint(self) -> bool:
        return self.kind == Kind.COMPLAINT

    @property
    def takes_customer_replies(self) -> bool:
        """Whether a customer's reply belongs here (reopening it if solved) or opens a
        follow-up: closed conversations never take one, solved ones only within
        ``KEFU_REOPEN_DAYS`` of being solved."""
        if self.status == Status.CLOSED:
            return False
        if self.status == Status.SOLVED and self.solved_at is not None:
            days = settings.KEFU_REOPEN_DAYS
            return timezone.now() - self.solved_at <= timedelta(days=days)
        return True


class RootCause(models.Model):
    """A category a solved complaint is filed under (configured in the admin)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=100)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("root cause")
        verbose_name_plural = _("root causes")

    def __str__(self) -> str:
        return self.name


class ConversationLink(models.Model):
    """Two related conversations (symmetric: stored once, lower id first)."""

    low = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    high = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["low", "high"], name="conversation_link_unique"),
            models.CheckConstraint(
                condition=models.Q(low__lt=models.F("high")), name="conversation_link_ordered"
            ),
        ]
        indexes = [models.Index(fields=["high"], name="conversation_link_high_idx")]
        verbose_name = _("conversation link")
        verbose_name_plural = _("conversation links")

    def __str__(self) -> str:
        return f"#{self.low_id} ↔ #{self.high_id}"


class Message(models.Model):
    class Direction(models.TextChoices):
        IN = "in", _("From customer")
        OUT = "out", _("Reply")
        NOTE = "note", _("Internal note")

    class Delivery(models.TextChoices):
        NONE = "", _("Not sent by a channel")
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=4, choices=Direction.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    author_customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)  # always sanitized before it is stored
    metadata = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    delivery = models.CharField(max_length=8, choices=Delivery.choices, blank=True, default="")
    delivery_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        return self.body_text[:60]

    @property
    def is_system(self) -> bool:
        return self.author_customer_id is None and self.author_agent_id is None


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.message.conversation_id}/{instance.message_id}/{filename}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=255)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127, default="application/octet-stream")
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.filename
