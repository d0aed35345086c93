from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from kefu.livechat.models import ChatSession, Widget


@admin.register(Widget)
class WidgetAdmin(admin.ModelAdmin):
    list_display = ("name", "site_key", "team", "active")
    readonly_fields = ("site_key", "snippet")
    fieldsets = (
        (None, {"fields": ("name", "active", "team", "language", "greeting", "color")}),
        (_("Embedding"), {"fields": ("site_key", "snippet", "allowed_origins", "identity_secret")}),
        (_("Pre-chat form"), {"fields": ("ask_name", "ask_email", "ask_phone", "topics")}),
        (_("Opening hours"), {"fields": ("open_days", "open_from", "open_until", "time_zone")}),
    )

    @admin.display(description=_("snippet"))
    def snippet(self, widget: Widget) -> str:
        if not widget.pk:
            return "-"
        return format_html(
            '<code>&lt;script src="https://…/chat/embed.js" data-site-key="{}" '
            "async&gt;&lt;/script&gt;</code>",
            widget.site_key,
        )


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = ("conversation", "widget", "state", "agent", "rank", "rating", "queued_at")
    list_filter = ("state", "widget")
    readonly_fields = [f.name for f in ChatSession._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
