from django.contrib import admin

from kefu.customers.models import ContactPoint, Customer, CustomerNote, Organization, Preference


class ContactPointInline(admin.TabularInline):
    model = ContactPoint
    extra = 0


class PreferenceInline(admin.TabularInline):
    model = Preference
    extra = 0
    readonly_fields = ("author", "created_at", "updated_at")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("__str__", "tier", "organization", "owner", "created_at")
    list_filter = ("tier", "consent_marketing")
    search_fields = ("name", "contact_points__value", "organization__name")
    inlines = [ContactPointInline, PreferenceInline]
    raw_id_fields = ("merged_into", "user")
    filter_horizontal = ("tags",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "tier")
    search_fields = ("name", "domain")


@admin.register(CustomerNote)
class CustomerNoteAdmin(admin.ModelAdmin):
    list_display = ("customer", "author", "created_at")
    raw_id_fields = ("customer",)
