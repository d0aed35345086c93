"""Service configuration shared by every channel. Canned replies now; SLAs and macros later."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class CannedReply(models.Model):
    """A stock answer an agent inserts by typing ``/shortcut`` in the composer."""

    shortcut = models.SlugField(
        _("shortcut"), max_length=40, unique=True, allow_unicode=True, help_text=_("Typed as /…")
    )
    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(_("text"))
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
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")

    def __str__(self) -> str:
        return f"/{self.shortcut}"
