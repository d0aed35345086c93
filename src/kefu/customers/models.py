from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.core.models import Tag


class Tier(models.TextChoices):
    VIP = "vip", _("VIP")
    KEY_ACCOUNT = "key_account", _("Key account")
    NORMAL = "normal", _("Normal")


class Organization(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    domain = models.CharField(_("email domain"), max_length=200, blank=True)
    tier = models.CharField(_("tier"), max_length=16, choices=Tier.choices, default=Tier.NORMAL)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    name = models.CharField(_("name"), max_length=200, blank=True)
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("organization"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
    )
    tier = models.CharField(
        _("tier"), max_length=16, choices=Tier.choices, default=Tier.NORMAL, db_index=True
    )
    # The first contact point, kept here so a nameless customer can be shown without a query.
    primary_contact = models.CharField(_("primary contact"), max_length=254, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account manager"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
    )
    team = models.ForeignKey(
        "staff.Team",
        verbose_name=_("owning team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="+")
    consent_email = models.BooleanField(_("consents to service email"), default=True)
    consent_marketing = models.BooleanField(_("consents to marketing"), default=False)
    consent_sms = models.BooleanField(_("consents to SMS"), default=False)
    # A customer who can sign in to the portal to follow their own conversations.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    created_at = models.DateTimeField(_("customer since"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.primary_contact or f"#{self.pk}"

    @property
    def is_vip(self) -> bool:
        return self.tier in (Tier.VIP, Tier.KEY_ACCOUNT)


class ContactPoint(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")
        VISITOR = "visitor", _("Chat visitor")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contact_points")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=254)
    verified = models.BooleanField(_("verified"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="unique_contact_point"),
        ]
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class Preference(models.Model):
    """A typed fact the company remembers about a customer ("drinks tea", "calls after 18:00")."""

    class Kind(models.TextChoices):
        CONTACT = "contact", _("Contact")
        CHANNEL = "channel", _("Channel")
        LANGUAGE = "language", _("Language")
        PRODUCT = "product", _("Product")
        PERSONAL = "personal", _("Personal")
        OTHER = "other", _("Other")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="preferences")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.OTHER)
    value = models.CharField(_("preference"), max_length=255)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "id"]
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")

    def __str__(self) -> str:
        return self.value


class CustomerNote(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField(_("note"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("customer note")
        verbose_name_plural = _("customer notes")

    def __str__(self) -> str:
        return self.body[:50]


class TimelineEntry(models.Model):
    """One line of a customer's history: every conversation and event, across channels.

    Written by actions, never edited; survives agents leaving and customers merging.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="timeline")
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="timeline",
    )
    kind = models.CharField(max_length=32, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")

    def __str__(self) -> str:
        return f"{self.kind} {self.created_at:%Y-%m-%d}"
