from django.contrib import admin

from kefu.service.models import (
    BusinessCalendar,
    CalendarDay,
    CannedReply,
    EscalationRule,
    SlaPolicy,
    WorkingHours,
)


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    """Validated on save (``CannedReply.clean``: known placeholders only, valid tags)."""

    list_display = ("shortcut", "title", "owner", "team", "set_status", "active")
    list_filter = ("active", "team", ("owner", admin.EmptyFieldListFilter))
    search_fields = ("shortcut", "title", "body")
    raw_id_fields = ("owner",)


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    extra = 0
    ordering = ("-date",)


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "time_zone", "china_holidays")
    inlines = [WorkingHoursInline, CalendarDayInline]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ("date", "calendar", "kind", "name")
    list_filter = ("calendar", "kind")
    date_hierarchy = "date"
    search_fields = ("name",)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "position",
        "active",
        "tiers",
        "priorities",
        "kinds",
        "channels",
        "first_response_minutes",
        "next_response_minutes",
        "resolution_minutes",
        "calendar",
        "warn_percent",
    )
    list_editable = ("position", "active")
    list_filter = ("active", "calendar")
    filter_horizontal = ("teams",)


@admin.register(EscalationRule)
class EscalationRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "active", "on", "target", "policy")
    list_editable = ("position", "active")
    list_filter = ("active", "on", "target")
    raw_id_fields = ("notify_user", "reassign_agent")


from kefu.service import rules_admin  # noqa: E402, F401  (routing, assignment, automation)
