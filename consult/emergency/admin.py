"""Admin: receiving hospitals and team membership are configured here.

Cases themselves hold PHI and are not browsed in the admin.
"""

from __future__ import annotations

from django.contrib import admin

from consult.emergency.models import ReceivingHospital, Team


@admin.register(ReceivingHospital)
class ReceivingHospitalAdmin(admin.ModelAdmin):
    list_display = ["organisation", "lat", "lon", "accepting"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "organisation", "department"]
    list_filter = ["organisation", "code"]
    filter_horizontal = ["members"]
