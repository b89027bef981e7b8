from django.urls import path

from consult.records import api, views

app_name = "records"

api_urlpatterns = [
    path("patients/", api.PatientListView.as_view(), name="api-patient-list"),
    path(
        "patients/<str:patient_id>/",
        api.PatientDetailView.as_view(),
        name="api-patient",
    ),
    path(
        "patients/<str:patient_id>/fhir/",
        api.PatientFhirView.as_view(),
        name="api-patient-fhir",
    ),
    path(
        "patients/<str:patient_id>/break-glass/",
        api.PatientBreakGlassView.as_view(),
        name="api-patient-break-glass",
    ),
    path("access-alerts/", api.AccessAlertListView.as_view(), name="api-access-alerts"),
    path(
        "access-alerts/<int:alert_id>/clear/",
        api.AccessAlertClearView.as_view(),
        name="api-access-alert-clear",
    ),
]

urlpatterns = [
    path("", views.patient_list_page, name="patient-list"),
    path("<str:patient_id>/", views.patient_detail_page, name="patient-detail"),
]
