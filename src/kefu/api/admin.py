from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from kefu.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are listed and revoked here; they are created with ``kefu token create``."""

    list_display = ["key_prefix", "name", "user", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["name", "key_prefix", "user__username"]
    readonly_fields = ["user", "key_prefix", "created_at", "last_used_at"]
    exclude = ["key_hash"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
