"""Room pages: my rooms, the room itself, and its quality report."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from consult.accounts.models import Role, User
from consult.exceptions import ConsultError
from consult.records.context import AccessContext
from consult.rooms import selectors
from consult.rooms.models import Room
from consult.rooms.services import ROOM_CREATOR_ROLES
from consult.scheduling.waiting import SESSION_KEY


@login_required
def room_list(request: HttpRequest) -> HttpResponse:
    """Open rooms, and a form to open an ad-hoc MDT room with colleagues."""
    colleagues = (
        User.objects.filter(
            organisation_id=request.user.organisation_id, is_active=True
        )
        .exclude(pk=request.user.pk)
        .exclude(role__in=[Role.ADMINISTRATOR, Role.TRAINEE])
        .select_related("department")
        .order_by("last_name")
    )
    return render(
        request,
        "rooms/room_list.html",
        {
            "rooms": selectors.rooms_for(request.user),
            "colleagues": colleagues,
            "can_create": request.user.role in ROOM_CREATOR_ROLES,
        },
    )


@never_cache
def room(request: HttpRequest, room_id: str) -> HttpResponse:
    """Enter a room, or a 404 for anyone who is not in it."""
    try:
        if request.user.is_authenticated:
            room_pass = selectors.room_pass_for_user(
                request.user,
                room_id,
                ctx=AccessContext.from_request(request, channel="page"),
            )
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
    room_row = room_pass.room
    if room_row.kind == Room.Kind.OPERATION and hasattr(room_row, "operation"):
        # The operation's page is this room plus drawing, broadcast and questions.
        return redirect(room_row.operation.get_absolute_url())
    if room_pass.emergency_case_id:
        # An ambulance's video is watched on the board and sent from the crew page.
        case = room_pass.emergency_case_id
        if "video" in room_pass.publish:
            return redirect("emergency:crew-case", case_id=case)
        return redirect(f"{reverse('emergency:board')}?case={case}")
    base = "base.html" if request.user.is_authenticated else "patient_base.html"
    return render(
        request,
        "rooms/room.html",
        {"room_pass": room_pass, "room": room_row, "base": base},
    )


@login_required
def quality_report(request: HttpRequest, room_id: str) -> HttpResponse:
    """The host's chart of each participant's latency, loss and freezes."""
    try:
        room_pass = selectors.room_pass_for_user(request.user, room_id)
    except ConsultError as error:
        return render(request, "error.html", {"error": error}, status=error.status_code)
    if not room_pass.is_host:
        error = ConsultError(
            "Only a host can open the quality report.", code="permission_denied"
        )
        error.status_code = 403
        return render(request, "error.html", {"error": error}, status=403)
    return render(
        request, "rooms/quality.html", {"room_pass": room_pass, "room": room_pass.room}
    )
