from django.urls import path

from consult.emergency import api, views

app_name = "emergency"

api_urlpatterns = [
    path("crew/", views.crew_page, name="crew"),
    path("crew/<uuid:case_id>/", views.crew_page, name="crew-case"),
    path("board/", views.board_page, name="board"),
    path("hospitals/", api.HospitalListView.as_view(), name="api-hospitals"),
    path("teams/", api.TeamListView.as_view(), name="api-teams"),
    path("outbox-key/", api.OutboxKeyView.as_view(), name="api-outbox-key"),
    path("cases/", api.CaseListView.as_view(), name="api-cases"),
    path("cases/<str:case_id>/", api.CaseDetailView.as_view(), name="api-case"),
    path(
        "cases/<str:case_id>/vitals/", api.VitalsView.as_view(), name="api-case-vitals"
    ),
    path(
        "cases/<str:case_id>/location/",
        api.LocationView.as_view(),
        name="api-case-location",
    ),
    path(
        "cases/<str:case_id>/depart/",
        api.CaseDepartView.as_view(),
        name="api-case-depart",
    ),
    path(
        "cases/<str:case_id>/accept/",
        api.CaseAcceptView.as_view(),
        name="api-case-accept",
    ),
    path(
        "cases/<str:case_id>/activate/",
        api.CaseActivateView.as_view(),
        name="api-case-activate",
    ),
    path(
        "cases/<str:case_id>/arrive/",
        api.CaseArriveView.as_view(),
        name="api-case-arrive",
    ),
    path(
        "cases/<str:case_id>/handover/",
        api.CaseHandoverView.as_view(),
        name="api-case-handover",
    ),
    path(
        "cases/<str:case_id>/divert/",
        api.CaseDivertView.as_view(),
        name="api-case-divert",
    ),
    path(
        "cases/<str:case_id>/close/", api.CaseCloseView.as_view(), name="api-case-close"
    ),
    path(
        "cases/<str:case_id>/timeline/",
        api.TimelineView.as_view(),
        name="api-case-timeline",
    ),
    path(
        "cases/<str:case_id>/handoff/",
        api.HandoffView.as_view(),
        name="api-case-handoff",
    ),
    path("cases/<str:case_id>/fhir/", api.FhirView.as_view(), name="api-case-fhir"),
    path(
        "cases/<str:case_id>/attachments/",
        api.AttachmentListView.as_view(),
        name="api-case-attachments",
    ),
    path(
        "cases/<str:case_id>/attachments/<str:attachment_id>/",
        api.AttachmentDetailView.as_view(),
        name="api-case-attachment",
    ),
    path(
        "activations/<str:activation_id>/acknowledge/",
        api.AcknowledgeView.as_view(),
        name="api-activation-acknowledge",
    ),
]

urlpatterns = [
    path("crew/", views.crew_page, name="crew"),
    path("crew/<uuid:case_id>/", views.crew_page, name="crew-case"),
    path("board/", views.board_page, name="board"),
    path("cases/<str:case_id>/handoff/", views.handoff_page, name="handoff"),
]
