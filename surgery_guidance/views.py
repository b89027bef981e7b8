"""Guidance pages: operations, mentoring, the trainees' broadcast, the library."""

from __future__ import annotations

import json
import re

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from consult.exceptions import ConsultError
from consult.records.context import AccessContext
from surgery_guidance import selectors, services
from surgery_guidance.files import output_path, ranged_file_response
from surgery_guidance.forms import OperationForm
from surgery_guidance.models import Operation

_HLS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\.(m3u8|ts|m4s|mp4)$")


def _error(request: HttpRequest, error: ConsultError) -> HttpResponse:
    return render(request, "error.html", {"error": error}, status=error.status_code)


@login_required
def operation_list(request: HttpRequest) -> HttpResponse:
    """Live and scheduled operations: yours, and broadcasts you may watch."""
    operations = selectors.operations_upcoming(request.user)
    staff = selectors.staff_operation_ids(request.user, [o.pk for o in operations])
    rows = [{"operation": o, "staff": o.pk in staff} for o in operations]
    return render(
        request,
        "surgery_guidance/operation_list.html",
        {
            "rows": rows,
            "can_schedule": request.user.role in services.ORGANISER_ROLES,
            "recent": selectors.recordings_for(request.user)[:5],
        },
    )


@login_required
def operation_new(request: HttpRequest) -> HttpResponse:
    """Schedule a mentored operation (surgeons, coordinators, administrators)."""
    if request.user.role not in services.ORGANISER_ROLES:
        return _error(request, services.PermissionDenied())
    form = OperationForm(request.POST or None, organisation=request.user.organisation)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            operation = services.operation_schedule(
                actor=request.user,
                title=data["title"],
                procedure=data["procedure"],
                theatre=data["theatre"],
                scheduled_start=data["scheduled_start"],
                surgeon_id=data["surgeon"].pk,
                mentor_ids=[m.pk for m in data["mentors"]],
                moderator_id=data["moderator"].pk if data["moderator"] else None,
                vitals=data["vitals"],
                ctx=AccessContext.from_request(request, channel="page"),
            )
        except ConsultError as error:
            form.add_error(None, error.message)
        else:
            return redirect(operation)
    return render(request, "surgery_guidance/operation_new.html", {"form": form})


@never_cache
@login_required
def operation(request: HttpRequest, operation_id: str) -> HttpResponse:
    """Staff: the mentoring view (room video + drawing). Viewers: the broadcast."""
    try:
        op_pass = selectors.operation_pass_for_user(request.user, operation_id)
    except ConsultError as error:
        return _error(request, error)
    if op_pass.is_viewer:
        return redirect("guidance:watch", operation_id=op_pass.operation_id)
    row = selectors.operation_for(op_pass)
    from consult.rooms.selectors import room_pass_for_user

    try:
        # The surgeon, as the room's host, may have removed this person.
        room_pass = room_pass_for_user(request.user, row.room_id)
    except ConsultError as error:
        return _error(request, error)
    return render(
        request,
        "surgery_guidance/operation.html",
        {
            "operation": row,
            "op_pass": op_pass,
            "room": row.room,
            "room_pass": room_pass,
            "base": "base.html",
            "watch_url": row.get_absolute_url() + "watch/",
        },
    )


@never_cache
@login_required
def watch(request: HttpRequest, operation_id: str) -> HttpResponse:
    """The broadcast: composited video (annotations and vitals burned in), questions."""
    try:
        op_pass = selectors.operation_pass_for_user(request.user, operation_id)
        if op_pass.is_viewer:
            services.broadcast_require(op_pass)
    except ConsultError as error:
        return _error(request, error)
    row = selectors.operation_for(op_pass)
    return render(
        request,
        "surgery_guidance/watch.html",
        {"operation": row, "op_pass": op_pass, "live": services.live_json(row)},
    )


@require_POST
@login_required
def consent(request: HttpRequest, operation_id: str) -> HttpResponse:
    """Record the patient's consent and switch the broadcast on or off."""
    try:
        services.consent_record(
            actor=request.user,
            # Not through an operation pass: an administrator has none, and
            # the service checks the organisation and who may record consent.
            operation_id=selectors.parse_operation_id(operation_id),
            broadcast=request.POST.get("broadcast") == "on",
            ctx=AccessContext.from_request(request, channel="page"),
        )
    except ConsultError as error:
        return _error(request, error)
    return redirect("guidance:operation", operation_id=operation_id)


@login_required
def library(request: HttpRequest) -> HttpResponse:
    """Recordings by procedure."""
    procedure = request.GET.get("procedure", "")[:120]
    return render(
        request,
        "surgery_guidance/library.html",
        {
            "recordings": selectors.recordings_for(request.user, procedure=procedure),
            "procedures": selectors.procedures_for(request.user),
            "procedure": procedure,
        },
    )


@login_required
def replay(request: HttpRequest, recording_id: str) -> HttpResponse:
    """A recording with its timeline: annotations and vitals as they happened."""
    try:
        recording = selectors.recording_for(request.user, recording_id)
    except ConsultError as error:
        return _error(request, error)
    return render(request, "surgery_guidance/replay.html", {"recording": recording})


@login_required
def recording_video(request: HttpRequest, recording_id: str) -> HttpResponse:
    try:
        recording = selectors.recording_for(request.user, recording_id)
    except ConsultError as error:
        return _error(request, error)
    response = ranged_file_response(
        request, output_path(recording.video_path), "video/mp4"
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
def recording_timeline(request: HttpRequest, recording_id: str) -> HttpResponse:
    try:
        recording = selectors.recording_for(request.user, recording_id)
    except ConsultError as error:
        return _error(request, error)
    try:
        timeline = json.loads(output_path(recording.timeline_path).read_text())
    except (Http404, ValueError):
        timeline = {"version": 1, "events": []}
    return JsonResponse(timeline)


def hls_file(request: HttpRequest, token: str, name: str) -> HttpResponse:
    """A live broadcast's playlist or segment, by the broadcast's unguessable token.

    The token stands for the viewer's check (it is only ever put in a page that
    passed it), so an HTTP cache or CDN can serve these paths to thousands of
    trainees; it changes with each broadcast and dies when consent is withdrawn.
    """
    if not _HLS_NAME.match(name):
        raise Http404()
    operation = Operation.objects.filter(
        broadcast_token=token, broadcast=True, consent_recorded_at__isnull=False
    ).first()
    if operation is None or not operation.hls_path:
        raise Http404()
    directory = operation.hls_path.rsplit("/", 1)[0]
    path = output_path(f"{directory}/{name}")
    playlist = name.endswith(".m3u8")
    response = ranged_file_response(
        request,
        path,
        "application/vnd.apple.mpegurl" if playlist else "video/mp2t",
    )
    # The playlist changes every segment; a segment never changes.
    response["Cache-Control"] = "no-cache" if playlist else "public, max-age=600"
    return response
