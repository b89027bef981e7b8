"""Emergency pages: the crew's phone page, the command board, the handoff report."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from consult.emergency import handoff, selectors
from consult.exceptions import ConsultError, PermissionDenied
from consult.records.context import AccessContext


@never_cache
@login_required
def handoff_page(request: HttpRequest, case_id: str) -> HttpResponse:
    """The ATMIST and IMIST-AMBO report with the vitals trend, for printing."""
    try:
        report = handoff.handoff_report(
            actor=request.user,
            case_id=case_id,
            ctx=AccessContext.from_request(request, channel="page"),
        )
    except ConsultError as error:
        return render(request, "error.html", {"error": error}, status=error.status_code)
    return render(request, "emergency/handoff.html", {"report": report})


def _refused(request: HttpRequest, message: str) -> HttpResponse:
    error = PermissionDenied(message)
    return render(request, "error.html", {"error": error}, status=error.status_code)


@never_cache
@login_required
def crew_page(request: HttpRequest, case_id: str | None = None) -> HttpResponse:
    """The paramedic's phone page: open a case, stream vitals, see the answer.

    The case itself is loaded by the page through the API (which checks the
    crew); this view only renders the shell and its configuration.
    """
    user = request.user
    if not selectors.is_crew(user):
        return _refused(request, "The ambulance page is for paramedics on a crew.")
    config = {
        "case_id": str(selectors.parse_case_id(case_id)) if case_id else None,
        "user_id": user.pk,
        "call_sign": user.crew.call_sign,
        "service": user.organisation.name if user.organisation_id else "",
    }
    return render(request, "emergency/crew.html", {"config": config})


@never_cache
@login_required
def board_page(request: HttpRequest) -> HttpResponse:
    """The hospital's command board of inbound ambulances."""
    user = request.user
    if not selectors.is_hospital_staff(user):
        return _refused(request, "The inbound board is for hospital staff.")
    departments = user.organisation.departments.order_by("name")
    config = {
        "user_id": user.pk,
        "hospital": {"id": user.organisation_id, "name": user.organisation.name},
        "departments": [
            {"id": d.pk, "name": d.name, "specialty": d.specialty} for d in departments
        ],
        "default_department": user.department_id,
        "focus": request.GET.get("case", "")[:36],
    }
    return render(request, "emergency/board.html", {"config": config})
