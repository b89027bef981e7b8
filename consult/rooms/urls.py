from django.urls import path

from consult.rooms import views

app_name = "rooms"

urlpatterns = [
    path("<str:room_id>/", views.room, name="room"),
]
