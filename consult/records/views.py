"""Patient pages for clinicians: the same audited selectors the API uses."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from consult.exceptions import ConsultError
from consult.records import selectors
from consult.records.context import AccessContext


def _error_page(request: HttpRequest, error: ConsultError) -> HttpResponse:
    return render(request, "error.html", {"error": error}, status=error.status_code)


@login_required
def patient_list_page(request: HttpRequest) -> HttpResponse:
    """The patients the clinician may see, with an exact MRN search."""
    mrn = request.GET.get("mrn", "").strip()[:32] or None
    ctx = AccessContext.from_request(request, channel="page")
    try:
        patients, total = selectors.patient_list(actor=request.user, ctx=ctx, mrn=mrn)
    except ConsultError as error:
        return _error_page(request, error)
    return render(
        request,
        "records/patient_list.html",
        {"patients": patients, "total": total, "mrn": mrn or ""},
    )


@login_required
def patient_detail_page(request: HttpRequest, patient_id: str) -> HttpResponse:
    """One patient's record; a patient outside the user's reach is a 404."""
    ctx = AccessContext.from_request(request, channel="page")
    try:
        detail = selectors.patient_get(
            actor=request.user, patient_id=patient_id, ctx=ctx
        )
    except ConsultError as error:
        return _error_page(request, error)
    return render(request, "records/patient_detail.html", {"patient": detail})
