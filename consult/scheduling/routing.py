from django.urls import path

from consult.scheduling import consumers

websocket_urlpatterns = [
    path("ws/waiting/", consumers.PatientWaitingConsumer.as_asgi()),
    path("ws/diary/", consumers.DiaryConsumer.as_asgi()),
]
