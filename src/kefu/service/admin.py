from django.contrib import admin

from kefu.service.models import CannedReply


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ("shortcut", "title", "team", "active")
    list_filter = ("active", "team")
    search_fields = ("shortcut", "title", "body")
