"""Websocket routes of every app, gathered in one list."""

from consult.scheduling.routing import websocket_urlpatterns as scheduling_ws

websocket_urlpatterns = [*scheduling_ws]
