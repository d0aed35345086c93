"""Analytics tables: one fact row per conversation, daily rollups of the facts, customer value.

Dashboards read :class:`DailyRollup`, :class:`CustomerValue`, :class:`TermWeek` and
:class:`Snapshot` only; they never scan messages. Facts and rollups are kept up to date by the
listeners (``listeners.py``) and recomputed from source by ``kefu analytics rebuild``.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ConversationFact(models.Model):
    """What one conversation contributes to the figures (recomputed whole on every event)."""

    conversation = models.OneToOneField(
        "conversations.Conversation",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="fact",
    )
    customer_id = models.BigIntegerField(db_index=True)
    created_at = models.DateTimeField()
    created_day = models.DateField(db_index=True)
    team_id = models.BigIntegerField(null=True)
    agent_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=10)
    kind = models.CharField(max_length=16)
    tier = models.CharField(max_length=16)
    status = models.CharField(max_length=10)
    first_response_minutes = models.FloatField(null=True)
    next_response_minutes = models.JSONField(default=list)
    resolved_day = models.DateField(null=True)  # indexed with created_day (Meta)
    resolution_minutes = models.FloatField(null=True)
    replies = models.PositiveIntegerField(default=0)
    inbound = models.PositiveIntegerField(default=0)
    reopens = models.PositiveIntegerField(default=0)
    sla_first_met = models.BooleanField(null=True)
    sla_resolution_met = models.BooleanField(null=True)
    satisfaction = models.PositiveSmallIntegerField(null=True)
    chat_wait_seconds = models.FloatField(null=True)
    chat_missed = models.BooleanField(default=False)
    tags = models.JSONField(default=list)  # the conversation's tag ids, sorted
    chat_agent_id = models.BigIntegerField(null=True)  # who took the chat, and when
    chat_accepted_at = models.DateTimeField(null=True)
    chat_ended_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer_id", "created_at"]),
            # the per-agent table under filters (``agents``): a period's facts by the day
            # they were created, the filters checked in the index, and on PostgreSQL the
            # columns it sums included, so a vacuumed table is not read (SQLite: no INCLUDE)
            models.Index(
                fields=["created_day", "team_id", "channel", "kind", "tier"],
                include=[
                    "resolved_day",
                    "agent_id",
                    "first_response_minutes",
                    "next_response_minutes",
                    "sla_first_met",
                    "resolution_minutes",
                    "satisfaction",
                    "tags",
                ],
                name="analytics_fact_created_cover",
            ),
            # facts resolved in a period, created before it
            models.Index(fields=["resolved_day", "created_day"], name="analytics_fact_resolved"),
        ]

    def __str__(self) -> str:
        return f"fact {self.conversation_id}"


ALL = "*"  # a rollup dimension summed over (channel, kind or tier "all")
GRAINS = ("day", "week", "month")


class Rollup(models.Model):
    """Sums of facts per period and dimension; histograms (log buckets) give medians and
    percentiles without the underlying rows.

    Each fact adds to rows of three grains: its day, its week (``day`` is the Monday) and its
    month (``day`` is the 1st), so a long period reads a few month and week rows and the days
    at its edges, never a row per day."""

    grain = models.CharField(max_length=5, default="day")
    day = models.DateField()  # the first day of the grain's period
    team_id = models.BigIntegerField(default=0)  # 0: no team (a key column cannot be null)
    created = models.IntegerField(default=0)
    resolved = models.IntegerField(default=0)
    reopened = models.IntegerField(default=0)
    one_touch = models.IntegerField(default=0)
    responded = models.IntegerField(default=0)
    first_response_sum = models.FloatField(default=0)
    first_response_hist = models.JSONField(default=dict)
    next_response_hist = models.JSONField(default=dict)
    resolution_sum = models.FloatField(default=0)
    resolution_hist = models.JSONField(default=dict)
    sla_first_total = models.IntegerField(default=0)
    sla_first_met = models.IntegerField(default=0)
    sla_resolution_total = models.IntegerField(default=0)
    sla_resolution_met = models.IntegerField(default=0)
    rated = models.IntegerField(default=0)
    rating_sum = models.IntegerField(default=0)
    rated_good = models.IntegerField(default=0)
    chats = models.IntegerField(default=0)
    chats_missed = models.IntegerField(default=0)
    chat_wait_hist = models.JSONField(default=dict)

    class Meta:
        abstract = True


class DailyRollup(Rollup):
    """Per period, tag, team, channel, kind and tier: what the dashboards' filters slice.

    Besides the full rows (channel, kind and tier all set), each team has rows summed over
    them: one per channel, kind and tier with the other two ``ALL``, and a total with all three
    ``ALL``. A view without those filters reads these (a few rows per team and period) instead
    of every combination. ``tag_id`` 0 holds every conversation; a tag's rows repeat the same
    shapes for the conversations carrying it (the "tag / product" filter and breakdown)."""

    tag_id = models.BigIntegerField(default=0)
    channel = models.CharField(max_length=10)
    kind = models.CharField(max_length=16)
    tier = models.CharField(max_length=16)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "day", "tag_id", "team_id", "channel", "kind", "tier"],
                name="analytics_rollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.day} {self.team_id} {self.channel} {self.kind}"


class AgentDailyRollup(Rollup):
    """Per period, team and agent: agents' figures (kept apart so the main rollup stays
    small)."""

    agent_id = models.BigIntegerField(default=0)  # 0: unassigned

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "day", "team_id", "agent_id"], name="analytics_agent_rollup_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.day} {self.team_id} {self.agent_id}"


class AgentChatLoad(models.Model):
    """One agent's live chats on one day: how many chats at once (recomputed from the chat
    sessions of that agent and day whenever one of them changes, so it is exact).

    ``chat_seconds`` sums every chat's time within the day, ``busy_seconds`` the time with at
    least one chat open: their ratio is the average number of chats at once while chatting;
    ``peak`` the most at once."""

    day = models.DateField()
    agent_id = models.BigIntegerField()
    chats = models.IntegerField(default=0)  # chats accepted that day
    chat_seconds = models.FloatField(default=0)
    busy_seconds = models.FloatField(default=0)
    peak = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "agent_id"], name="analytics_chat_load_key")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.agent_id} {self.peak}"


class Order(models.Model):
    """A purchase imported from the shop or entered by hand: what customer value is made of."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="orders",
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    product = models.CharField(_("product"), max_length=100, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    ordered_at = models.DateTimeField(_("ordered"), db_index=True)

    class Meta:
        ordering = ["-ordered_at"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self) -> str:
        return f"{self.reference or self.pk} {self.amount}"


class CustomerValue(models.Model):
    """Per-customer value, RFM segment and churn risk (recomputed by a periodic job)."""

    customer = models.OneToOneField(
        "customers.Customer", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    orders = models.IntegerField(default=0)
    value = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    last_order_at = models.DateTimeField(null=True)
    contacts = models.IntegerField(default=0)
    contacts_90d = models.IntegerField(default=0)
    last_contact_at = models.DateTimeField(null=True)
    segment = models.CharField(max_length=16, blank=True)
    churn_score = models.FloatField(default=0, db_index=True)
    reasons = models.JSONField(default=list)
    team_id = models.BigIntegerField(null=True)

    def __str__(self) -> str:
        return f"{self.customer_id} {self.value}"


class TermWeek(models.Model):
    """How many conversations of a week mention a term (optionally within one product tag)."""

    week = models.DateField()
    term = models.CharField(max_length=64)
    product = models.CharField(max_length=64, blank=True)
    conversations = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["week", "term", "product"], name="analytics_term_week")
        ]
        indexes = [models.Index(fields=["product", "week"])]

    def __str__(self) -> str:
        return f"{self.week} {self.term}"


class Snapshot(models.Model):
    """A computed figure too costly to derive per request (Pareto curve, complaint retention)."""

    key = models.CharField(max_length=64, primary_key=True)
    data = models.JSONField(default=dict)
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key
