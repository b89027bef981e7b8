from django.urls import path

from surgery_guidance import api, views

app_name = "guidance"

api_urlpatterns = [
    path("operations/", api.OperationListView.as_view(), name="api-operations"),
    path(
        "operations/<str:operation_id>/annotations/",
        api.AnnotationBackfillView.as_view(),
        name="api-annotations",
    ),
    path("recordings/", api.RecordingListView.as_view(), name="api-recordings"),
]

urlpatterns = [
    path("", views.operation_list, name="list"),
    path("new/", views.operation_new, name="new"),
    path("library/", views.library, name="library"),
    path("recordings/<str:recording_id>/", views.replay, name="replay"),
    path(
        "recordings/<str:recording_id>/video.mp4",
        views.recording_video,
        name="recording-video",
    ),
    path(
        "recordings/<str:recording_id>/timeline.json",
        views.recording_timeline,
        name="recording-timeline",
    ),
    path("hls/<str:token>/<str:name>", views.hls_file, name="hls"),
    path("<str:operation_id>/", views.operation, name="operation"),
    path("<str:operation_id>/watch/", views.watch, name="watch"),
    path("<str:operation_id>/consent/", views.consent, name="consent"),
]
