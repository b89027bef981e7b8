from django.urls import path

from consult.scheduling import waiting_views

app_name = "waiting"

urlpatterns = [
    path("join/<str:token>", waiting_views.join, name="join"),
    path("waiting/", waiting_views.waiting_room, name="room"),
]
