from django.urls import path

from consult.emergency import consumers

websocket_urlpatterns = [
    path("ws/emergency/crew/<uuid:case_id>/", consumers.CrewConsumer.as_asgi()),
    path("ws/emergency/board/", consumers.BoardConsumer.as_asgi()),
]
