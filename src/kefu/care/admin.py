from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from kefu.care import models, segments
from kefu.care.rendering import check_source


class TemplateVersionForm(forms.ModelForm):
    class Meta:
        model = models.TemplateVersion
        fields = ["language", "tier", "subject", "body_text", "body_html"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("subject", "body_text", "body_html"):
            try:
                check_source(data.get(name) or "")
            except forms.ValidationError as exc:
                self.add_error(name, exc)
        return data


class TemplateVersionInline(admin.StackedInline):
    model = models.TemplateVersion
    form = TemplateVersionForm
    extra = 1


@admin.register(models.Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "preview_link"]
    inlines = [TemplateVersionInline]

    @admin.display(description=_("preview"))
    def preview_link(self, obj: models.Template) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("care:template_preview", args=[obj.pk]), _("preview")
        )


class SegmentForm(forms.ModelForm):
    class Meta:
        model = models.Segment
        fields = ["name", "rules"]

    def clean_rules(self) -> Any:
        rules = self.cleaned_data["rules"]
        segments.check_rules(rules)
        return rules


@admin.register(models.Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "count"]

    @admin.display(description=_("customers"))
    def count(self, obj: models.Segment) -> int:
        return segments.members(obj).count()


@admin.register(models.Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "segment", "status", "scheduled_at", "progress_link"]
    list_filter = ["status", "kind"]
    fields = [
        "name",
        "kind",
        "template",
        "segment",
        "purpose",
        "scheduled_at",
        "rate_per_minute",
        "repeat_every_days",
    ]

    def save_model(self, request: Any, obj: models.Campaign, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("progress"))
    def progress_link(self, obj: models.Campaign) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("care:campaign", args=[obj.pk]), _("progress")
        )


@admin.register(models.Occasion)
class OccasionAdmin(admin.ModelAdmin):
    list_display = ["kind", "template", "send_hour", "active", "preview_link"]

    @admin.display(description=_("preview"))
    def preview_link(self, obj: models.Occasion) -> str:
        """Preview the greeting as a real customer before activating it."""
        return format_html(
            '<a href="{}">{}</a>',
            reverse("care:template_preview", args=[obj.template_id]),
            _("preview"),
        )


@admin.register(models.FollowUpRule)
class FollowUpRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "days", "template", "active"]


@admin.register(models.Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["address", "reason", "created_at"]
    search_fields = ["address"]
    list_filter = ["reason"]


@admin.register(models.Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["customer", "purpose", "granted", "source", "created_at"]
    list_filter = ["purpose", "granted"]
    raw_id_fields = ["customer"]

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # the record of consent is append-only


@admin.register(models.Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["kind", "customer", "agent", "score", "answered_at"]
    list_filter = ["kind"]
    raw_id_fields = ["customer", "conversation", "agent", "campaign"]


@admin.register(models.CareTask)
class CareTaskAdmin(admin.ModelAdmin):
    list_display = ["title", "assignee", "done", "created_at"]
    list_filter = ["done"]
    raw_id_fields = ["customer", "survey", "assignee"]


@admin.register(models.Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["key", "kind", "address", "state", "sent_at"]
    list_filter = ["kind", "state"]
    search_fields = ["address", "key"]
    raw_id_fields = ["customer", "conversation", "campaign", "survey", "template"]
