from django.urls import path

from consult.rooms import consumers

websocket_urlpatterns = [
    path("ws/rooms/<uuid:room_id>/", consumers.RoomConsumer.as_asgi()),
]
