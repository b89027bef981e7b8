"""The patient's side: open a one-time link, then wait to be admitted."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from consult.exceptions import ConsultError
from consult.scheduling import waiting


@never_cache
def join(request: HttpRequest, token: str) -> HttpResponse:
    """Bind the link to this browser and go to the waiting room."""
    if not request.session.session_key:
        request.session.save()
    try:
        appointment = waiting.patient_link_open(
            token=token, session_key=request.session.session_key or ""
        )
    except ConsultError as error:
        return render(
            request,
            "scheduling/link_error.html",
            {"error": error},
            status=error.status_code,
        )
    # A staff user who opens a patient link must not carry their account into it.
    if request.user.is_authenticated:
        from django.contrib.auth import logout

        logout(request)
        request.session.save()
        appointment = waiting.patient_link_open(
            token=token, session_key=request.session.session_key or ""
        )
    request.session[waiting.SESSION_KEY] = str(appointment.pk)
    return redirect("waiting:room")


@never_cache
def waiting_room(request: HttpRequest) -> HttpResponse:
    """The patient's waiting room: device checks, then wait for admission."""
    appointment_id = request.session.get(waiting.SESSION_KEY)
    if not appointment_id:
        error = ConsultError(
            "Open the link from your invitation to join.", code="no_link"
        )
        return render(
            request, "scheduling/link_error.html", {"error": error}, status=403
        )
    try:
        view = waiting.waiting_view(appointment_id)
    except ConsultError as error:
        return render(
            request, "scheduling/link_error.html", {"error": error}, status=404
        )
    return render(request, "scheduling/waiting_room.html", {"view": view})
