"""Widgets (one per website or app), their visitors, and the chat sessions they start."""

from __future__ import annotations

import datetime
import secrets
import uuid
import zoneinfo

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def new_site_key() -> str:
    return secrets.token_urlsafe(12)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class FieldMode(models.TextChoices):
    REQUIRED = "required", _("Required")
    OPTIONAL = "optional", _("Optional")
    OFF = "off", _("Not asked")


class Widget(models.Model):
    name = models.CharField(_("name"), max_length=100)
    site_key = models.CharField(_("site key"), max_length=32, unique=True, default=new_site_key)
    identity_secret = models.CharField(
        _("identity secret"),
        max_length=64,
        default=new_secret,
        help_text=_("Your site signs its logged-in users with this; keep it on your server."),
    )
    allowed_origins = models.TextField(
        _("allowed sites"),
        blank=True,
        help_text=_("One origin per line, e.g. https://shop.example.com"),
    )
    team = models.ForeignKey(
        "staff.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Empty: the visitor's browser decides."),
    )
    greeting = models.CharField(_("greeting"), max_length=255, blank=True)
    color = models.CharField(_("colour"), max_length=7, default="#1f6feb")
    ask_name = models.CharField(
        _("name field"), max_length=10, choices=FieldMode.choices, default=FieldMode.OPTIONAL
    )
    ask_email = models.CharField(
        _("email field"), max_length=10, choices=FieldMode.choices, default=FieldMode.OPTIONAL
    )
    ask_phone = models.CharField(
        _("phone field"), max_length=10, choices=FieldMode.choices, default=FieldMode.OFF
    )
    topics = models.TextField(_("topics"), blank=True, help_text=_("One topic per line."))
    open_days = models.CharField(
        _("open days"),
        max_length=7,
        default="1234567",
        help_text=_("ISO weekdays the chat is staffed, e.g. 12345 for Monday to Friday."),
    )
    open_from = models.TimeField(_("opens at"), null=True, blank=True)
    open_until = models.TimeField(_("closes at"), null=True, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("chat widget")
        verbose_name_plural = _("chat widgets")

    def __str__(self) -> str:
        return self.name

    @property
    def origins(self) -> list[str]:
        return [o.strip().rstrip("/").lower() for o in self.allowed_origins.split() if o.strip()]

    @property
    def topic_list(self) -> list[str]:
        return [t.strip() for t in self.topics.splitlines() if t.strip()]

    def is_open(self, when: datetime.datetime | None = None) -> bool:
        """Within the widget's opening hours (no hours set: always)."""
        try:
            zone = zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo("UTC")
        local = (when or timezone.now()).astimezone(zone)
        if str(local.isoweekday()) not in self.open_days:
            return False
        if self.open_from and local.time() < self.open_from:
            return False
        return not (self.open_until and local.time() >= self.open_until)


class Visitor(models.Model):
    """A browser that opened the widget (known by a signed token in the iframe's storage)."""

    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="visitors")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_id = models.CharField(max_length=255, blank=True)  # the host site's user id
    verified = models.BooleanField(default=False)
    language = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("chat visitor")
        verbose_name_plural = _("chat visitors")

    def __str__(self) -> str:
        return str(self.uuid)


class ChatSession(models.Model):
    """The live part of a chat conversation: queue, agent, read marks, rating."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting in queue")
        ACTIVE = "active", _("Chatting")
        ENDED = "ended", _("Ended")

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="chat"
    )
    widget = models.ForeignKey(Widget, on_delete=models.PROTECT, related_name="sessions")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="sessions")
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_sessions",
    )
    rank = models.PositiveSmallIntegerField(default=0)  # VIP 2, key account 1: ahead in queue
    verified = models.BooleanField(default=False)
    topic = models.CharField(max_length=100, blank=True)
    page_url = models.CharField(max_length=500, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=8, blank=True)
    visitor_read_id = models.BigIntegerField(default=0)
    agent_read_id = models.BigIntegerField(default=0)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "-rank", "queued_at"]),
            models.Index(fields=["agent", "state"]),
        ]
        verbose_name = _("chat session")
        verbose_name_plural = _("chat sessions")

    def __str__(self) -> str:
        return f"chat {self.conversation_id} ({self.state})"
