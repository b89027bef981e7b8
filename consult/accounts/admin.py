from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from consult.accounts.models import Crew, Department, DeviceToken, Organisation, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "first_name",
        "last_name",
        "role",
        "organisation",
        "department",
        "is_active",
    ]
    list_filter = ["role", "organisation", "is_active"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        (
            "Role and organisation",
            {"fields": ["role", "organisation", "department", "crew", "time_zone"]},
        ),
    ]
    add_fieldsets = [
        *DjangoUserAdmin.add_fieldsets,
        (
            "Role and organisation",
            {"fields": ["role", "organisation", "department", "crew"]},
        ),
    ]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "time_zone"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "specialty", "organisation"]
    list_filter = ["specialty", "organisation"]


@admin.register(Crew)
class CrewAdmin(admin.ModelAdmin):
    list_display = ["call_sign", "organisation"]


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin):
    """Users create their tokens (API); administrators see and revoke them."""

    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "key_hash",
        "created_at",
        "last_used_at",
    ]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
