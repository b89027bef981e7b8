"""Websocket routes of every app, gathered in one list."""

from consult.emergency.routing import websocket_urlpatterns as emergency_ws
from consult.rooms.routing import websocket_urlpatterns as rooms_ws
from consult.scheduling.routing import websocket_urlpatterns as scheduling_ws
from surgery_guidance.routing import websocket_urlpatterns as guidance_ws

websocket_urlpatterns = [*scheduling_ws, *emergency_ws, *rooms_ws, *guidance_ws]
