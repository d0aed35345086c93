from django.contrib import admin

from kefu.mail.models import InboundEmail, Mailbox, OutboundEmail


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = ("name", "address", "team", "active", "imap_host", "auto_acknowledge")
    list_filter = ("active",)
    fieldsets = (
        (None, {"fields": ("name", "address", "team", "language", "active")}),
        (
            "IMAP",
            {
                "fields": (
                    "imap_host",
                    "imap_port",
                    "imap_security",
                    "imap_user",
                    "imap_password",
                    "imap_folder",
                    "imap_processed_folder",
                )
            },
        ),
        (
            "Behaviour",
            {
                "fields": (
                    "auto_acknowledge",
                    "answer_within_hours",
                    "thread_by_subject_days",
                    "max_auto_replies_per_hour",
                )
            },
        ),
    )


@admin.register(InboundEmail)
class InboundEmailAdmin(admin.ModelAdmin):
    """Every raw message that arrived, with what became of it (read-only)."""

    list_display = ("received_at", "sender", "subject", "state", "source", "mailbox")
    list_filter = ("state", "source", "mailbox")
    search_fields = ("sender", "subject", "message_id", "sha256")
    readonly_fields = [f.name for f in InboundEmail._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ("created_at", "subject", "state", "attempts", "kind", "last_error")
    list_filter = ("state", "kind")
    search_fields = ("subject", "message_id")
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False
