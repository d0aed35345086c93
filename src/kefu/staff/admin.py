from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from kefu.core.errors import ActionError
from kefu.staff.models import AgentProfile, Team
from kefu.staff.offboarding import deactivate_agent

User = get_user_model()


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    can_delete = False
    filter_horizontal = ("teams",)
    extra = 0


@admin.action(description=_("Deactivate and hand their work back to their teams"))
def offboard(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    """Offboarding from the admin goes through the action, so nothing is left stranded."""
    for user in queryset.filter(is_active=True):
        try:
            moved = deactivate_agent(user, actor=request.user)
        except ActionError as exc:
            modeladmin.message_user(request, f"{user}: {exc}", messages.ERROR)
        else:
            modeladmin.message_user(
                request,
                ngettext(
                    "%(user)s deactivated; %(n)d open conversation returned to its team",
                    "%(user)s deactivated; %(n)d open conversations returned to their teams",
                    len(moved),
                )
                % {"user": user, "n": len(moved)},
            )


class KefuUserAdmin(UserAdmin):
    inlines = [AgentProfileInline]
    list_display = ("username", "email", "first_name", "last_name", "is_active", "is_staff")
    actions = [offboard]


admin.site.unregister(User)
admin.site.register(User, KefuUserAdmin)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "lead")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "role", "presence", "capacity", "language")
    list_filter = ("role", "presence", "teams")
    filter_horizontal = ("teams",)
    search_fields = ("user__username", "display_name")
