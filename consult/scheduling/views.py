"""Schedule pages for clinicians and coordinators; the browser talks to the API.

The pages render a shell plus the little data the first paint needs (the
practitioners of the user's organisation, the user's zone); everything else
comes from ``/api/scheduling/`` through fetch(). Roles without a diary or a
coordinating duty (trainee, paramedic, operator, administrator) get a 403 page.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from consult.accounts.models import Role
from consult.exceptions import ConsultError, PermissionDenied
from consult.scheduling import selectors
from consult.scheduling.models import AvailabilityException
from consult.scheduling.services import CANCEL_REASONS

CANCEL_REASON_LABELS = {
    "patient_request": "Patient asked to cancel",
    "clinician_unavailable": "Clinician unavailable",
    "duplicate": "Duplicate booking",
    "rescheduled": "Rescheduled",
    "other": "Other",
}


def _error_page(request: HttpRequest, error: ConsultError) -> HttpResponse:
    return render(request, "error.html", {"error": error}, status=error.status_code)


def _require_coordinator(user: Any) -> None:
    selectors.require_scheduler(user)
    if user.role != Role.NURSE:
        raise PermissionDenied("Booking for others is done by coordinators.")


def _page_config(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    """What every schedule page's script needs: who, which zone, where the API is."""
    user: Any = request.user
    people = [
        {
            "id": p.pk,
            "name": p.get_full_name() or p.username,
            "role": p.role,
            "department": p.department.name if p.department else None,
            "department_id": p.department_id,
            "time_zone": p.time_zone,
        }
        for p in selectors.practitioners(user).order_by("last_name", "first_name")
    ]
    return {
        "user_id": user.pk,
        "role": user.role,
        "is_coordinator": user.role == Role.NURSE,
        "time_zone": user.time_zone,
        "practitioners": people,
        "api": reverse("scheduling-api:api-practitioners").removesuffix(
            "practitioners/"
        ),
        "patients_api": reverse("api-patient-list"),
        "login_url": reverse("accounts:login"),
        **extra,
    }


def _render(
    request: HttpRequest, template: str, config: dict[str, Any]
) -> HttpResponse:
    return render(
        request,
        template,
        {"config": config, "practitioners": config["practitioners"]},
    )


@login_required
def calendar_page(request: HttpRequest) -> HttpResponse:
    """The signed-in clinician's week, or any practitioner's for a coordinator."""
    try:
        config = _page_config(
            request,
            cancel_reasons=[
                {"code": code, "label": CANCEL_REASON_LABELS.get(code, code)}
                for code in CANCEL_REASONS
                if code != "rescheduled"
            ],
            book_url=reverse("scheduling:book"),
        )
    except ConsultError as error:
        return _error_page(request, error)
    return _render(request, "scheduling/calendar.html", config)


@login_required
def book_page(request: HttpRequest) -> HttpResponse:
    """A coordinator books one patient with one practitioner."""
    try:
        _require_coordinator(request.user)
        config = _page_config(request)
    except ConsultError as error:
        return _error_page(request, error)
    return _render(request, "scheduling/book.html", config)


@login_required
def mdt_page(request: HttpRequest) -> HttpResponse:
    """A coordinator finds the earliest common time for several seats and books it."""
    try:
        _require_coordinator(request.user)
        config = _page_config(request)
    except ConsultError as error:
        return _error_page(request, error)
    return _render(request, "scheduling/mdt.html", config)


@login_required
def availability_page(request: HttpRequest) -> HttpResponse:
    """A clinician's weekly windows and exceptions (a coordinator picks whose)."""
    user: Any = request.user
    try:
        config = _page_config(
            request,
            exception_kinds=[
                {"code": value, "label": label}
                for value, label in AvailabilityException.Kind.choices
            ],
        )
        selected = request.GET.get("practitioner", "").strip()
        if selected:
            practitioner = selectors.practitioner_get(user, selected)
        elif user.role in selectors.BOOKABLE_ROLES:
            practitioner = selectors.practitioner_get(user, user.pk)
        else:
            practitioner = None
        if (
            practitioner is not None
            and user.role != Role.NURSE
            and practitioner.pk != user.pk
        ):
            raise PermissionDenied("Only the clinician or a coordinator edits a diary.")
    except ConsultError as error:
        return _error_page(request, error)
    config["practitioner_id"] = practitioner.pk if practitioner else None
    return _render(request, "scheduling/availability.html", config)
