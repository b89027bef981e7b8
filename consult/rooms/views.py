"""The room page: clinicians by membership, the patient by their admitted session."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from consult.exceptions import ConsultError
from consult.rooms import selectors
from consult.scheduling.waiting import SESSION_KEY


@never_cache
def room(request: HttpRequest, room_id: str) -> HttpResponse:
    """Enter a room, or a 404 for anyone who is not in it."""
    try:
        if request.user.is_authenticated:
            room_pass = selectors.room_pass_for_user(request.user, room_id)
        else:
            room_pass = selectors.room_pass_for_patient(
                request.session.get(SESSION_KEY), room_id
            )
    except ConsultError as error:
        template = (
            "error.html"
            if request.user.is_authenticated
            else "scheduling/link_error.html"
        )
        return render(request, template, {"error": error}, status=error.status_code)
    base = "base.html" if request.user.is_authenticated else "patient_base.html"
    return render(request, "rooms/room.html", {"room_pass": room_pass, "base": base})
