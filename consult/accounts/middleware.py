"""Session expiry: idle and absolute limits, as HIPAA automatic logoff asks."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

AUTH_STARTED_KEY = "_auth_started"
LAST_SEEN_KEY = "_last_seen"
# Refresh the idle clock at most this often, so not every request writes the session.
_TOUCH_RESOLUTION_S = 30


class SessionExpiryMiddleware:
    """Log out sessions past the idle limit or the absolute limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Expire or refresh the session, then handle the request."""
        if request.user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            started = request.session.setdefault(AUTH_STARTED_KEY, now)
            last_seen = request.session.get(LAST_SEEN_KEY, now)
            if (
                now - last_seen > settings.SESSION_IDLE_TIMEOUT
                or now - started > settings.SESSION_ABSOLUTE_TIMEOUT
            ):
                logout(request)
            elif (
                now - last_seen > _TOUCH_RESOLUTION_S
                or LAST_SEEN_KEY not in request.session
            ):
                request.session[LAST_SEEN_KEY] = now
        return self.get_response(request)
