"""FHIR R4 REST endpoints over the schedule: Schedule, Slot and Appointment.

Session or device-token auth, like the rest of the API, and the same scoping
as ``consult.scheduling.selectors``: everything is limited to the acting
user's organisation. Another organisation's objects are absent from searches
and 404 on read. Every response, errors included, is ``application/fhir+json``;
errors are OperationOutcomes carrying our stable code in
``issue[0].details.coding[0].code``.

Search parameters whose name starts with ``_`` (other than ``_id``) are
ignored, as FHIR's lenient mode allows; any other unknown parameter is a
400, so a misspelt filter never silently widens a search.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.accounts.authentication import DeviceTokenAuthentication
from consult.api_parsers import LimitedJSONParser
from consult.exceptions import ConsultError, NotFound
from consult.records.context import AccessContext
from consult.records.selectors import patient_labels
from consult.scheduling import availability, fhir, selectors, services
from consult.scheduling.errors import InvalidBooking
from consult.scheduling.ical import room_url
from consult.scheduling.models import (
    Appointment,
    AppointmentParticipant,
    ConsultationType,
)

# Default and longest windows of an Appointment search without/with dates.
APPOINTMENT_DEFAULT_PAST = timedelta(days=30)
APPOINTMENT_DEFAULT_FUTURE = timedelta(days=180)
APPOINTMENT_MAX_RANGE = timedelta(days=400)
SLOT_DEFAULT_RANGE = timedelta(days=7)
SLOT_MAX_RANGE = timedelta(days=selectors.MAX_SEARCH_DAYS)


class FhirJSONRenderer(JSONRenderer):
    """JSON under FHIR's media type."""

    media_type = "application/fhir+json"
    format = "fhir"
    charset = "utf-8"


class FhirJSONParser(LimitedJSONParser):
    """The size-limited JSON parser, for ``application/fhir+json`` bodies."""

    media_type = "application/fhir+json"


class FhirNegotiation(DefaultContentNegotiation):
    """Always answer FHIR JSON, whatever ``Accept`` says (we have no XML)."""

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        """The first renderer, FHIR JSON."""
        return renderers[0], renderers[0].media_type


def fhir_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Domain, DRF and 404 errors as OperationOutcomes; anything else propagates."""
    headers: dict[str, str] = {}
    if isinstance(exc, ConsultError):
        status_code, code, message = exc.status_code, exc.code, exc.message
    elif isinstance(exc, Http404):
        status_code, code, message = 404, "not_found", "Not found."
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        status_code = exc.status_code
        code = codes if isinstance(codes, str) else "invalid"
        message = str(exc.detail) if isinstance(exc.detail, str) else "Invalid input."
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    else:
        return None
    body = fhir.operation_outcome(code=code, message=message, status=status_code)
    return Response(body, status=status_code, headers=headers)


class FhirView(APIView):
    """Base of the FHIR endpoints: FHIR media types and OperationOutcome errors."""

    # The token scheme first, so that a missing credential is a 401 with
    # ``WWW-Authenticate: Token`` (DRF asks the first class for the header).
    authentication_classes = [DeviceTokenAuthentication, SessionAuthentication]
    renderer_classes = [FhirJSONRenderer]
    parser_classes = [FhirJSONParser, LimitedJSONParser]
    content_negotiation_class = FhirNegotiation
    # Parameters each search understands, besides ``_``-prefixed ones.
    search_params: frozenset[str] = frozenset()

    def get_exception_handler(self) -> Any:
        """Errors as OperationOutcomes."""
        return fhir_exception_handler

    def params(self, request: Request) -> dict[str, list[str]]:
        """The search's parameters; unknown ones are refused."""
        found: dict[str, list[str]] = {}
        for name in request.query_params:
            if name.startswith("_") and name != "_id":
                continue
            if name not in self.search_params:
                raise fhir.InvalidResource(
                    f"Unsupported search parameter {name[:40]!r}.",
                    code="unknown_parameter",
                )
            found[name] = [
                v for raw in request.query_params.getlist(name) for v in raw.split(",")
            ]
        return found


def _ctx(request: Request) -> AccessContext:
    return AccessContext.from_request(request, channel="api")


def _url(request: Request, name: str, **kwargs: str) -> str:
    namespace = request.resolver_match.namespace if request.resolver_match else ""
    path = reverse(f"{namespace}:{name}" if namespace else name, kwargs=kwargs)
    return request.build_absolute_uri(path)


def _ids(values: Sequence[str], resource_type: str) -> set[str]:
    """Ids from references or bare ids; other resource types match nothing."""
    ids = set()
    for value in values:
        if "/" in value:
            ref = fhir.reference_id(value, resource_type)
            if ref is not None:
                ids.add(ref)
        else:
            ids.add(value)
    return ids


def _int_ids(values: Sequence[str], resource_type: str) -> set[int]:
    return {int(v) for v in _ids(values, resource_type) if v.isdigit()}


def _kinds(actor: Any) -> list[ConsultationType]:
    return list(ConsultationType.objects.filter(organisation_id=actor.organisation_id))


class ScheduleSearchView(FhirView):
    """``GET Schedule?actor=Practitioner/<id>``: one Schedule per bookable clinician."""

    search_params = frozenset({"actor", "_id"})

    @extend_schema(
        operation_id="fhir_schedule_search",
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        tags=["fhir"],
    )
    def get(self, request: Request) -> Response:
        params = self.params(request)
        queryset = selectors.practitioners(request.user)
        if "actor" in params:
            queryset = queryset.filter(pk__in=_int_ids(params["actor"], "Practitioner"))
        if "_id" in params:
            queryset = queryset.filter(pk__in=_int_ids(params["_id"], "Schedule"))
        kinds = _kinds(request.user)
        entries = [
            (
                _url(request, "schedule", schedule_id=str(p.pk)),
                fhir.schedule_resource(p, kinds),
            )
            for p in queryset.order_by("pk")
        ]
        return Response(fhir.searchset(entries, self_url=request.build_absolute_uri()))


class ScheduleReadView(FhirView):
    """``GET Schedule/<id>``."""

    @extend_schema(
        operation_id="fhir_schedule_read",
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        tags=["fhir"],
    )
    def get(self, request: Request, schedule_id: str) -> Response:
        practitioner = selectors.practitioner_get(request.user, schedule_id)
        return Response(fhir.schedule_resource(practitioner, _kinds(request.user)))


def _now_aligned() -> datetime:
    return availability.align_up(timezone.now().astimezone(UTC), selectors.SLOT_STEP)


def _slots(
    practitioner_ids: list[int],
    start: datetime,
    end: datetime,
    *,
    statuses: set[str],
    kind: ConsultationType | None,
) -> list[tuple[int, datetime, datetime, str]]:
    """Free slots (of ``kind``'s duration, or whole free intervals) and busy ones."""
    found: list[tuple[int, datetime, datetime, str]] = []
    if "free" in statuses and practitioner_ids:
        free_from = max(start, _now_aligned())
        free = (
            selectors.free_intervals_for(practitioner_ids, free_from, end)
            if free_from < end
            else {}
        )
        for pid, intervals in free.items():
            if kind is None:
                found += [(pid, s, e, "free") for s, e in intervals]
                continue
            duration = timedelta(minutes=kind.duration_minutes)
            found += [
                (pid, s, s + duration, "free")
                for s in availability.slot_starts(
                    intervals, duration, selectors.SLOT_STEP
                )
            ]
    if "busy" in statuses and practitioner_ids:
        busy = AppointmentParticipant.objects.filter(
            practitioner_id__in=practitioner_ids,
            active=True,
            starts_at__lt=end,
            ends_at__gt=start,
        ).values_list("practitioner_id", "starts_at", "ends_at")
        found += [(pid, s, e, "busy") for pid, s, e in busy]
    return sorted(found, key=lambda slot: (slot[1], slot[0], slot[2]))


class SlotSearchView(FhirView):
    """``GET Slot?schedule=Schedule/<id>&start=ge2026-12-14&status=free``.

    Free slots are computed from availability minus leave and bookings;
    with ``service-type=<code>`` they are the consultation type's bookable
    starts, otherwise whole free intervals. Busy slots are active bookings.
    Bare dates are whole days in the acting user's time zone.
    """

    search_params = frozenset(
        {
            "schedule",
            "schedule.actor",
            "practitioner",
            "start",
            "status",
            "service-type",
        }
    )

    @extend_schema(
        operation_id="fhir_slot_search",
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        tags=["fhir"],
    )
    def get(self, request: Request) -> Response:
        params = self.params(request)
        pool = selectors.practitioners(request.user)
        if "schedule" in params:
            pool = pool.filter(pk__in=_int_ids(params["schedule"], "Schedule"))
        for name in ("schedule.actor", "practitioner"):
            if name in params:
                pool = pool.filter(pk__in=_int_ids(params[name], "Practitioner"))
        statuses = set(params.get("status", ["free", "busy"]))
        if not statuses <= {"free", "busy"}:
            raise fhir.InvalidResource(
                "Slot status is free or busy.", code="invalid_status"
            )
        now = timezone.now()
        start, end = fhir.date_range(
            params.get("start", []),
            zone=request.user.time_zone,
            default_start=now,
            span=SLOT_DEFAULT_RANGE,
        )
        if end - start > SLOT_MAX_RANGE:
            raise InvalidBooking(
                f"Search at most {selectors.MAX_SEARCH_DAYS} days.",
                code="range_too_long",
            )
        kind = None
        if "service-type" in params:
            codes = [v.rsplit("|", 1)[-1] for v in params["service-type"]]
            kind = ConsultationType.objects.filter(
                organisation_id=request.user.organisation_id, code__in=codes
            ).first()
            if kind is None:
                pool = pool.none()
        practitioner_ids = sorted(pool.values_list("pk", flat=True))
        slots = _slots(practitioner_ids, start, end, statuses=statuses, kind=kind)
        entries = []
        for pid, s, e, slot_status in slots:
            resource = fhir.slot_resource(pid, s, e, status=slot_status, kind=kind)
            entries.append((_url(request, "slot", slot_id=resource["id"]), resource))
        return Response(fhir.searchset(entries, self_url=request.build_absolute_uri()))


class SlotReadView(FhirView):
    """``GET Slot/<id>``: the slot if it is still free or busy as named, else 404."""

    @extend_schema(
        operation_id="fhir_slot_read",
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        tags=["fhir"],
    )
    def get(self, request: Request, slot_id: str) -> Response:
        parsed = fhir.parse_slot_id(slot_id)
        if parsed is None:
            raise NotFound()
        pid, start, end = parsed
        practitioner = selectors.practitioner_get(request.user, pid)
        busy = AppointmentParticipant.objects.filter(
            practitioner=practitioner, active=True, starts_at=start, ends_at=end
        ).exists()
        if busy:
            return Response(fhir.slot_resource(pid, start, end, status="busy"))
        free = selectors.free_intervals_for([pid], start, end)[pid]
        if start < timezone.now() or not availability.contains(free, start, end):
            raise NotFound()
        return Response(fhir.slot_resource(pid, start, end, status="free"))


def _uuids(values: set[str]) -> list[str]:
    found = []
    for value in values:
        try:
            found.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return found


def _appointment_queryset(actor: Any, start: datetime, end: datetime) -> Any:
    return selectors.appointments_for(actor, start=start, end=end).select_related(
        "room"
    )


def _appointment_body(
    request: Request, appointment: Appointment, labels: dict[str, str]
) -> dict[str, Any]:
    return fhir.appointment_resource(
        appointment, labels=labels, room_url=room_url(appointment, request=request)
    )


class AppointmentSearchView(FhirView):
    """``GET Appointment?practitioner=...&patient=...&date=ge...&status=...``; ``POST``.

    Without ``date`` the search covers 30 days back to 180 days ahead, and
    one bound alone spans 210 days; a range is at most 400 days. ``date``
    matches the appointment's start; bare dates are days in the user's zone.
    """

    search_params = frozenset(
        {"practitioner", "actor", "patient", "date", "status", "_id"}
    )

    @extend_schema(
        operation_id="fhir_appointment_search",
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        tags=["fhir"],
    )
    def get(self, request: Request) -> Response:
        params = self.params(request)
        now = timezone.now()
        start, end = fhir.date_range(
            params.get("date", []),
            zone=request.user.time_zone,
            default_start=now - APPOINTMENT_DEFAULT_PAST,
            span=APPOINTMENT_DEFAULT_PAST + APPOINTMENT_DEFAULT_FUTURE,
        )
        if end - start > APPOINTMENT_MAX_RANGE:
            raise InvalidBooking(
                f"Search at most {APPOINTMENT_MAX_RANGE.days} days.",
                code="range_too_long",
            )
        queryset = _appointment_queryset(request.user, start, end).filter(
            starts_at__gte=start, starts_at__lt=end
        )
        if "practitioner" in params:
            queryset = queryset.filter(
                participants__practitioner_id__in=_int_ids(
                    params["practitioner"], "Practitioner"
                )
            )
        if "actor" in params:
            queryset = queryset.filter(
                participants__practitioner_id__in=_int_ids(
                    params["actor"], "Practitioner"
                )
            )
        if "patient" in params:
            queryset = queryset.filter(
                patient_id__in=_uuids(_ids(params["patient"], "Patient"))
            )
        if "_id" in params:
            queryset = queryset.filter(
                pk__in=_uuids(_ids(params["_id"], "Appointment"))
            )
        if "status" in params:
            queryset = queryset.filter(status__in=params["status"])
        appointments = list(queryset.distinct().order_by("starts_at", "pk"))
        labels = patient_labels(
            actor=request.user,
            patient_ids=sorted({a.patient_id for a in appointments}),
            ctx=_ctx(request),
        )
        entries = [
            (
                _url(request, "appointment", appointment_id=str(a.pk)),
                _appointment_body(request, a, labels),
            )
            for a in appointments
        ]
        return Response(fhir.searchset(entries, self_url=request.build_absolute_uri()))

    @extend_schema(
        operation_id="fhir_appointment_create",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
        tags=["fhir"],
    )
    def post(self, request: Request) -> Response:
        """Book: a FHIR Appointment in, the booked Appointment out (201).

        The zone comes from the ``tz-code`` extension, else the user's own.
        """
        booking = fhir.booking_request_from_fhir(request.data)
        kind = ConsultationType.objects.filter(
            organisation_id=request.user.organisation_id,
            code=booking.consultation_type_code,
        ).first()
        if kind is None:
            raise InvalidBooking(
                "Unknown consultation type code.", code="unknown_consultation_type"
            )
        time_zone = booking.time_zone or request.user.time_zone
        if booking.ends_at is not None:
            services.check_booking_times(
                starts_at=booking.starts_at,
                ends_at=booking.ends_at,
                kind=kind,
                time_zone=time_zone,
            )
        ctx = _ctx(request)
        appointment = services.appointment_book(
            actor=request.user,
            patient_id=booking.patient_id,
            consultation_type=kind,
            practitioner_ids=booking.practitioner_ids,
            starts_at=booking.starts_at,
            time_zone=time_zone,
            reason=booking.reason,
            ctx=ctx,
        )
        labels = patient_labels(
            actor=request.user, patient_ids=[appointment.patient_id], ctx=ctx
        )
        location = _url(request, "appointment", appointment_id=str(appointment.pk))
        return Response(
            _appointment_body(request, appointment, labels),
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


class AppointmentReadView(FhirView):
    """``GET Appointment/<id>``."""

    @extend_schema(
        operation_id="fhir_appointment_read",
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        tags=["fhir"],
    )
    def get(self, request: Request, appointment_id: str) -> Response:
        appointment = selectors.appointment_get(request.user, appointment_id)
        labels = patient_labels(
            actor=request.user, patient_ids=[appointment.patient_id], ctx=_ctx(request)
        )
        return Response(_appointment_body(request, appointment, labels))


class AppointmentCancelView(FhirView):
    """``POST Appointment/<id>/$cancel`` with Parameters ``reason`` (a cancel code)."""

    @extend_schema(
        operation_id="fhir_appointment_cancel",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        tags=["fhir"],
    )
    def post(self, request: Request, appointment_id: str) -> Response:
        reason = fhir.cancel_reason_from_parameters(request.data)
        ctx = _ctx(request)
        appointment = services.appointment_cancel(
            actor=request.user, appointment_id=appointment_id, reason=reason, ctx=ctx
        )
        labels = patient_labels(
            actor=request.user, patient_ids=[appointment.patient_id], ctx=ctx
        )
        return Response(_appointment_body(request, appointment, labels))
