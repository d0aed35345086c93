from django.contrib import admin

from kefu.conversations.models import Conversation, RootCause


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-only: conversations change through the workspace and the API (the actions)."""

    list_display = (
        "id",
        "subject",
        "customer",
        "channel",
        "status",
        "priority",
        "team",
        "assignee",
    )
    list_filter = ("status", "priority", "channel", "kind", "team")
    search_fields = ("subject", "customer__name")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RootCause)
class RootCauseAdmin(admin.ModelAdmin):
    """The root-cause categories a complaint is solved under (deactivate, never delete, one
    that solved complaints use)."""

    list_display = ("name", "position", "active")
    list_editable = ("position", "active")
    search_fields = ("name",)
