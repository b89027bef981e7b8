from django.urls import path

from consult.rooms import api, views

app_name = "rooms"

api_urlpatterns = [
    path("", api.RoomListView.as_view(), name="api-rooms"),
    path("<str:room_id>/invite/", api.RoomInviteView.as_view(), name="api-room-invite"),
    path(
        "<str:room_id>/quality/",
        api.QualityReportView.as_view(),
        name="api-room-quality",
    ),
]

urlpatterns = [
    path("", views.room_list, name="list"),
    path("<str:room_id>/", views.room, name="room"),
    path("<str:room_id>/quality/", views.quality_report, name="quality"),
]
