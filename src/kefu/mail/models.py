from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Mailbox(models.Model):
    """One support address: where its mail comes from (IMAP, SMTP listener, pipe) and how
    conversations opened by it behave."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    address = models.EmailField(_("support address"), unique=True)
    team = models.ForeignKey(
        "staff.Team", verbose_name=_("team"), null=True, blank=True, on_delete=models.SET_NULL
    )
    language = models.CharField(_("default language"), max_length=10, default="zh-hans")
    active = models.BooleanField(_("active"), default=True)
    # IMAP (leave host empty for mailboxes fed by the SMTP listener or the pipe command)
    imap_host = models.CharField(_("IMAP host"), max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(
        _("IMAP security"),
        max_length=10,
        default="ssl",
        choices=[("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("none", _("none (loopback only)"))],
    )
    imap_user = models.CharField(_("IMAP user"), max_length=255, blank=True)
    imap_password = models.CharField(_("IMAP password"), max_length=255, blank=True)
    imap_folder = models.CharField(_("IMAP folder"), max_length=255, default="INBOX")
    imap_processed_folder = models.CharField(
        _("move processed mail to"),
        max_length=255,
        blank=True,
        help_text=_("Empty: processed mail stays and is flagged."),
    )
    # Behaviour
    auto_acknowledge = models.BooleanField(_("send acknowledgments"), default=True)
    answer_within_hours = models.PositiveIntegerField(
        _("promised answer time (hours)"),
        default=24,
        help_text=_("Said in the acknowledgment until service levels are configured."),
    )
    thread_by_subject_days = models.PositiveIntegerField(
        _("thread by subject within days"),
        default=0,
        help_text=_(
            "0: off. Otherwise a message without references joins the same customer's "
            "open conversation with the same subject from the last N days."
        ),
    )
    max_auto_replies_per_hour = models.PositiveIntegerField(
        _("auto-replies per sender per hour"), default=3
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"


class InboundEmail(models.Model):
    """Every message that reached kefu, stored raw before anything else happens to it."""

    class State(models.TextChoices):
        STORED = "stored", _("Stored")
        INGESTED = "ingested", _("Ingested")
        DUPLICATE = "duplicate", _("Duplicate")
        IGNORED = "ignored", _("Ignored")
        BOUNCE = "bounce", _("Bounce")
        FAILED = "failed", _("Failed")
        QUARANTINED = "quarantined", _("Quarantined")

    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound"
    )
    sha256 = models.CharField(max_length=64, unique=True)
    raw = models.FileField(upload_to="mail/raw/%Y/%m/", max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    source = models.CharField(max_length=10, default="pipe")  # imap, smtp, pipe, api
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    sender = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.STORED)
    detail = models.TextField(blank=True)
    # The conversation message it became (the field name keeps clear of ``message_id``,
    # which is the email's Message-ID header).
    conversation_message = models.ForeignKey(
        "conversations.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_emails",
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("inbound email")
        verbose_name_plural = _("inbound emails")

    def __str__(self) -> str:
        return f"{self.sender}: {self.subject}"


class OutboundEmail(models.Model):
    """The outbox: one row per email kefu sends, so each is sent at most once and retried
    until it is."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    class Kind(models.TextChoices):
        REPLY = "reply", _("Reply")
        ACKNOWLEDGMENT = "ack", _("Acknowledgment")

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.REPLY)
    # The agent reply it carries (None for acknowledgments).
    conversation_message = models.ForeignKey(
        "conversations.Message",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="outbound_emails",
    )
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="outbound_emails"
    )
    mailbox = models.ForeignKey(Mailbox, null=True, blank=True, on_delete=models.SET_NULL)
    message_id = models.CharField(max_length=255, unique=True)
    from_address = models.CharField(max_length=320)
    to = models.JSONField(default=list)
    cc = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("outbound email")
        verbose_name_plural = _("outbound emails")

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)}"


class Participant(models.Model):
    """Someone copied on a conversation's mail (CC), kept copied on the replies."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="participants"
    )
    email = models.CharField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=8, default="cc")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "email"], name="unique_participant")
        ]

    def __str__(self) -> str:
        return self.email


class AutoReplyLog(models.Model):
    """Auto-replies sent, per recipient: the flood limit counts these."""

    recipient = models.CharField(max_length=254, db_index=True)
    sent_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.recipient
