from django.urls import path

from surgery_guidance import consumers

websocket_urlpatterns = [
    path("ws/guidance/<uuid:operation_id>/", consumers.GuidanceConsumer.as_asgi()),
]
