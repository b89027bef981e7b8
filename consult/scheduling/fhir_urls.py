"""FHIR R4 scheduling endpoints (include at ``/fhir/``)."""

from django.urls import path

from consult.scheduling import fhir_api

app_name = "fhir"

urlpatterns = [
    path("Schedule", fhir_api.ScheduleSearchView.as_view(), name="schedule-search"),
    path(
        "Schedule/<str:schedule_id>",
        fhir_api.ScheduleReadView.as_view(),
        name="schedule",
    ),
    path("Slot", fhir_api.SlotSearchView.as_view(), name="slot-search"),
    path("Slot/<str:slot_id>", fhir_api.SlotReadView.as_view(), name="slot"),
    path(
        "Appointment",
        fhir_api.AppointmentSearchView.as_view(),
        name="appointment-search",
    ),
    path(
        "Appointment/<str:appointment_id>",
        fhir_api.AppointmentReadView.as_view(),
        name="appointment",
    ),
    path(
        "Appointment/<str:appointment_id>/$cancel",
        fhir_api.AppointmentCancelView.as_view(),
        name="appointment-cancel",
    ),
]
