"""Admin pages of routing, assignment and automation: supervisors and administrators only;
rules are validated on save (``RuleBase.clean`` → ``kefu.service.rules.check_rule``)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from kefu.service.models import AssignmentPolicy, AutomationRule, RoutingRule, WebhookCall
from kefu.staff.access import agent_profile
from kefu.staff.models import AgentProfile


def is_supervisor(user: Any) -> bool:
    profile = agent_profile(user)
    return bool(getattr(user, "is_superuser", False)) or (
        profile is not None
        and profile.role in (AgentProfile.Role.SUPERVISOR, AgentProfile.Role.ADMIN)
    )


class SupervisorsOnly(admin.ModelAdmin):
    """Django's model permissions, and on top of them the supervisor or administrator role."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_supervisor(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_supervisor(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_supervisor(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_supervisor(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_supervisor(request.user) and super().has_delete_permission(request, obj)


CONDITIONS: tuple[Any, dict[str, Any]] = (
    _("If (every filled condition holds)"),
    {
        "fields": (
            "channels",
            "mailboxes",
            "keywords",
            "languages",
            "tiers",
            "organizations",
            "kinds",
            "priorities",
            "statuses",
            "tags",
            "teams",
        )
    },
)
ROUTING_ACTIONS = (
    "set_team",
    "team_from_customer",
    "set_priority",
    "set_kind",
    "add_tags",
    "assign",
    "assign_agent",
)


@admin.register(RoutingRule)
class RoutingRuleAdmin(SupervisorsOnly):
    list_display = ("name", "position", "active", "stop", "occasion", "set_team", "assign")
    list_editable = ("position", "active")
    list_filter = ("active", "occasion", "set_team")
    search_fields = ("name", "keywords")
    filter_horizontal = ("organizations", "teams")
    raw_id_fields = ("assign_agent",)
    fieldsets = (  # type: ignore[assignment]
        (None, {"fields": ("name", "active", "position", "stop", "occasion")}),
        CONDITIONS,
        (_("Then"), {"fields": ROUTING_ACTIONS}),
    )


@admin.register(AutomationRule)
class AutomationRuleAdmin(SupervisorsOnly):
    list_display = ("name", "position", "active", "stop", "trigger", "idle_hours")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_editable = ("position", "active")
    list_filter = ("active", "trigger")
    search_fields = ("name", "keywords", "note")
    filter_horizontal = ("organizations", "teams")
    raw_id_fields = ("assign_agent",)
    fieldsets = (  # type: ignore[assignment]
        (None, {"fields": ("name", "active", "position", "stop", "trigger", "idle_hours")}),
        CONDITIONS,
        (
            _("Then"),
            {
                "fields": (
                    *ROUTING_ACTIONS,
                    "set_status",
                    "remove_tags",
                    "reply_template",
                    "note",
                    "webhook_url",
                    "webhook_secret",
                )
            },
        ),
    )


@admin.register(AssignmentPolicy)
class AssignmentPolicyAdmin(SupervisorsOnly):
    list_display = ("team", "strategy", "max_open", "last_assigned")
    list_filter = ("strategy",)


@admin.register(WebhookCall)
class WebhookCallAdmin(SupervisorsOnly):
    """What the rules' webhooks did (read only: the calls are the rules' to make)."""

    list_display = ("created_at", "rule_name", "url", "state", "attempts", "response_status")
    list_filter = ("state",)
    search_fields = ("rule_name", "url")
    readonly_fields = (
        "rule",
        "rule_name",
        "conversation",
        "url",
        "payload",
        "state",
        "attempts",
        "next_attempt_at",
        "response_status",
        "error",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
