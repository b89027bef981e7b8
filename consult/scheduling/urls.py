from django.urls import path

from consult.scheduling import api, views, waiting_api

app_name = "scheduling"

api_urlpatterns = [
    path(
        "practitioners/", api.PractitionerListView.as_view(), name="api-practitioners"
    ),
    path(
        "consultation-types/",
        api.ConsultationTypeListView.as_view(),
        name="api-consultation-types",
    ),
    path(
        "practitioners/<int:practitioner_id>/availability/",
        api.AvailabilityView.as_view(),
        name="api-availability",
    ),
    path(
        "practitioners/<int:practitioner_id>/exceptions/",
        api.AvailabilityExceptionView.as_view(),
        name="api-availability-exceptions",
    ),
    path(
        "availability/<int:rule_id>/",
        api.AvailabilityRuleDetailView.as_view(),
        name="api-availability-rule",
    ),
    path(
        "practitioners/<int:practitioner_id>/slots/",
        api.SlotListView.as_view(),
        name="api-slots",
    ),
    path("mdt-search/", api.MdtSearchView.as_view(), name="api-mdt-search"),
    path("appointments/", api.AppointmentListView.as_view(), name="api-appointments"),
    path(
        "appointments/<str:appointment_id>/",
        api.AppointmentDetailView.as_view(),
        name="api-appointment",
    ),
    path(
        "appointments/<str:appointment_id>/cancel/",
        api.AppointmentCancelView.as_view(),
        name="api-appointment-cancel",
    ),
    path(
        "appointments/<str:appointment_id>/reschedule/",
        api.AppointmentRescheduleView.as_view(),
        name="api-appointment-reschedule",
    ),
    path(
        "appointments/<str:appointment_id>/status/",
        api.AppointmentStatusView.as_view(),
        name="api-appointment-status",
    ),
    path(
        "appointments/<str:appointment_id>/patient-link/",
        waiting_api.PatientLinkView.as_view(),
        name="api-patient-link",
    ),
    path(
        "appointments/<str:appointment_id>/admit/",
        waiting_api.AdmitView.as_view(),
        name="api-admit",
    ),
    path("waiting/", waiting_api.WaitingListView.as_view(), name="api-waiting"),
]

urlpatterns = [
    path("", views.calendar_page, name="calendar"),
    path("book/", views.book_page, name="book"),
    path("mdt/", views.mdt_page, name="mdt"),
    path("availability/", views.availability_page, name="availability"),
]
