"""Admin: the audit trail and alerts; patients stay scoped, PHI never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from consult.records import monitor
from consult.records.access import reachable_patients
from consult.records.context import AccessContext
from consult.records.models import AccessAlert, AuditEvent, CareRelationship, Patient


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing here is edited through the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "seq",
        "at",
        "actor_username",
        "action",
        "object_type",
        "object_id",
        "outcome",
        "explained",
        "channel",
    ]
    list_filter = ["action", "outcome", "channel", "explained"]
    search_fields = ["actor_username", "object_id"]
    date_hierarchy = "at"


@admin.register(AccessAlert)
class AccessAlertAdmin(ReadOnlyAdmin):
    list_display = ["raised_at", "user", "rule", "detail", "cleared_at", "cleared_by"]
    list_filter = ["rule", "cleared_at"]
    actions = ["clear_alerts"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the bulk action; the form itself stays read-only.
        return (
            request.user.is_superuser
            or getattr(request.user, "role", "") == "administrator"
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in AccessAlert._meta.fields]

    @admin.action(description="Clear the selected alerts and lift the blocks")
    def clear_alerts(
        self, request: HttpRequest, queryset: QuerySet[AccessAlert]
    ) -> None:
        ctx = AccessContext.from_request(request, channel="admin")
        for alert in queryset.filter(cleared_at__isnull=True):
            monitor.access_alert_clear(alert=alert, by=request.user, ctx=ctx)
        messages.success(request, "Alerts cleared.")


@admin.register(CareRelationship)
class CareRelationshipAdmin(admin.ModelAdmin):
    list_display = ["patient_id", "kind", "user", "department", "starts_at", "ends_at"]
    list_filter = ["kind"]
    raw_id_fields = ["patient", "user", "created_by"]


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    """Only the patients the administrator personally may reach; never PHI in lists."""

    list_display = ["id", "organisation", "created_at", "deleted_at"]
    exclude = ["phi_ciphertext", "mrn_index"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Patient]:
        return reachable_patients(request.user)
