from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from kefu.staff.models import AgentProfile, Team

User = get_user_model()


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    can_delete = False
    filter_horizontal = ("teams",)
    extra = 0


class KefuUserAdmin(UserAdmin):
    inlines = [AgentProfileInline]
    list_display = ("username", "email", "first_name", "last_name", "is_active", "is_staff")


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
