from django.db import models
from django.utils.translation import gettext_lazy as _


class Tag(models.Model):
    """A label shared by conversations and customers (one vocabulary for both)."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    color = models.CharField(_("colour"), max_length=16, default="slate")

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name
