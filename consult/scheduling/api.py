"""Scheduling endpoints: diaries, free slots, MDT search, appointments."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consult.records.context import AccessContext
from consult.records.selectors import patient_labels
from consult.scheduling import selectors, services
from consult.scheduling.errors import InvalidBooking
from consult.scheduling.models import (
    Appointment,
    AvailabilityException,
    AvailabilityRule,
    ConsultationType,
)
from consult.scheduling.selectors import MAX_SEARCH_DAYS, SeatRequest
from consult.serializers import StrictSerializer


def _ctx(request: Request) -> AccessContext:
    return AccessContext.from_request(request, channel="api")


def _zone(name: str) -> str:
    if name not in zoneinfo.available_timezones():
        raise InvalidBooking(f"Unknown time zone {name!r}.", code="unknown_time_zone")
    return name


def _day_range(start_day: date, end_day: date, zone: str) -> tuple[datetime, datetime]:
    if end_day < start_day:
        raise InvalidBooking(
            "end_date is before start_date.", code="invalid_time_range"
        )
    if (end_day - start_day).days > MAX_SEARCH_DAYS:
        raise InvalidBooking(
            f"Search at most {MAX_SEARCH_DAYS} days.", code="range_too_long"
        )
    return selectors.search_range(start_day, end_day, _zone(zone))


class PractitionerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="get_full_name")
    role = serializers.CharField()
    department = serializers.CharField(source="department.name", default=None)
    department_id = serializers.IntegerField(default=None)
    time_zone = serializers.CharField()


class ConsultationTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsultationType
        fields = ["id", "code", "name", "duration_minutes", "modality", "is_mdt"]


class PractitionerListView(APIView):
    """Bookable clinicians of your organisation."""

    @extend_schema(responses=PractitionerSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(
            PractitionerSerializer(
                selectors.practitioners(request.user), many=True
            ).data
        )


class ConsultationTypeListView(APIView):
    """What can be booked in your organisation."""

    @extend_schema(responses=ConsultationTypeSerializer(many=True))
    def get(self, request: Request) -> Response:
        selectors.require_scheduler(request.user)
        kinds = ConsultationType.objects.filter(
            organisation_id=request.user.organisation_id
        )
        return Response(ConsultationTypeSerializer(kinds, many=True).data)


class AvailabilityRuleSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    weekday = serializers.IntegerField(min_value=0, max_value=6)
    start_time = serializers.TimeField()
    end_time = serializers.TimeField()
    time_zone = serializers.CharField(max_length=64)
    valid_from = serializers.DateField(required=False)
    valid_until = serializers.DateField(required=False, allow_null=True)


class AvailabilityExceptionSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=AvailabilityException.Kind.choices)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    note = serializers.CharField(max_length=120, required=False, allow_blank=True)


class AvailabilityView(APIView):
    """A practitioner's weekly windows and exceptions."""

    @extend_schema(responses=AvailabilityRuleSerializer(many=True))
    def get(self, request: Request, practitioner_id: int) -> Response:
        practitioner = selectors.practitioner_get(request.user, practitioner_id)
        rules = AvailabilityRule.objects.filter(practitioner=practitioner)
        exceptions = AvailabilityException.objects.filter(
            practitioner=practitioner, ends_at__gte=timezone.now()
        )
        return Response(
            {
                "rules": AvailabilityRuleSerializer(rules, many=True).data,
                "exceptions": AvailabilityExceptionSerializer(
                    exceptions, many=True
                ).data,
            }
        )

    @extend_schema(
        request=AvailabilityRuleSerializer, responses={201: AvailabilityRuleSerializer}
    )
    def post(self, request: Request, practitioner_id: int) -> Response:
        payload = AvailabilityRuleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rule = services.availability_rule_create(
            actor=request.user,
            practitioner_id=practitioner_id,
            **payload.validated_data,
        )
        return Response(
            AvailabilityRuleSerializer(rule).data, status=status.HTTP_201_CREATED
        )


class AvailabilityRuleDetailView(APIView):
    """Remove a weekly window."""

    @extend_schema(responses={204: None})
    def delete(self, request: Request, rule_id: int) -> Response:
        services.availability_rule_delete(actor=request.user, rule_id=rule_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AvailabilityExceptionView(APIView):
    """Add leave, a holiday or an extra session."""

    @extend_schema(
        request=AvailabilityExceptionSerializer,
        responses={201: AvailabilityExceptionSerializer},
    )
    def post(self, request: Request, practitioner_id: int) -> Response:
        payload = AvailabilityExceptionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        exception = services.availability_exception_create(
            actor=request.user,
            practitioner_id=practitioner_id,
            **payload.validated_data,
        )
        return Response(
            AvailabilityExceptionSerializer(exception).data,
            status=status.HTTP_201_CREATED,
        )


class RangeQuery(StrictSerializer):
    consultation_type = serializers.IntegerField(required=False)
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    time_zone = serializers.CharField(max_length=64, default="UTC")


def _slot(start: datetime, end: datetime, zone: str) -> dict[str, str]:
    tz = zoneinfo.ZoneInfo(zone)
    return {
        "start": start.astimezone(UTC).isoformat(),
        "end": end.astimezone(UTC).isoformat(),
        "local_start": start.astimezone(tz).isoformat(),
        "local_end": end.astimezone(tz).isoformat(),
    }


class SlotListView(APIView):
    """Free slots of one practitioner for a consultation type over whole days."""

    @extend_schema(parameters=[RangeQuery], responses={200: dict})
    def get(self, request: Request, practitioner_id: int) -> Response:
        query = RangeQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = query.validated_data
        if "consultation_type" not in data:
            raise InvalidBooking("consultation_type is required.", code="required")
        start, end = _day_range(data["start_date"], data["end_date"], data["time_zone"])
        slots = selectors.free_slots(
            request.user,
            practitioner_id=practitioner_id,
            consultation_type_id=data["consultation_type"],
            start=start,
            end=end,
        )
        return Response(
            {
                "time_zone": data["time_zone"],
                "slots": [_slot(s, e, data["time_zone"]) for s, e in slots],
            }
        )


class SeatSerializer(StrictSerializer):
    practitioner = serializers.IntegerField(required=False)
    department = serializers.IntegerField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("practitioner" in attrs) == ("department" in attrs):
            raise serializers.ValidationError(
                "Give a practitioner or a department.", code="invalid_seat"
            )
        return attrs


class MdtSearchSerializer(StrictSerializer):
    seats = SeatSerializer(many=True, min_length=2, max_length=services.MAX_MDT_SEATS)
    consultation_type = serializers.IntegerField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    time_zone = serializers.CharField(max_length=64)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class MdtSearchView(APIView):
    """Earliest common slots for the specialists (or any of a department per seat)."""

    @extend_schema(request=MdtSearchSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        payload = MdtSearchSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        kind = selectors.consultation_type_get(request.user, data["consultation_type"])
        start, end = _day_range(data["start_date"], data["end_date"], data["time_zone"])
        seats = [
            SeatRequest(s.get("practitioner"), s.get("department"))
            for s in data["seats"]
        ]
        found = selectors.mdt_search(
            request.user,
            seats=seats,
            start=start,
            end=end,
            duration=timedelta(minutes=kind.duration_minutes),
            limit=data["limit"],
        )
        names = {p.pk: p.get_full_name() for p in selectors.practitioners(request.user)}
        return Response(
            {
                "time_zone": data["time_zone"],
                "slots": [
                    _slot(slot.start, slot.end, data["time_zone"])
                    | {
                        "rank": rank,
                        "practitioners": [
                            {"id": pid, "name": names.get(pid, "")}
                            for pid in slot.assignment
                        ],
                    }
                    for rank, slot in enumerate(found, start=1)
                ],
            }
        )


class AppointmentCreateSerializer(StrictSerializer):
    patient = serializers.CharField(max_length=64)
    consultation_type = serializers.IntegerField()
    practitioners = serializers.ListField(
        child=serializers.IntegerField(),
        min_length=1,
        max_length=services.MAX_MDT_SEATS,
    )
    seat_departments = serializers.ListField(
        child=serializers.IntegerField(allow_null=True),
        required=False,
        max_length=services.MAX_MDT_SEATS,
    )
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(required=False)
    time_zone = serializers.CharField(max_length=64)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


def appointment_json(
    appointment: Appointment, labels: dict[str, str]
) -> dict[str, Any]:
    """The API shape of an appointment (the patient's name only if in reach)."""
    tz = zoneinfo.ZoneInfo(appointment.time_zone)
    room = getattr(appointment, "room", None)
    return {
        "id": str(appointment.pk),
        "status": appointment.status,
        "start": appointment.starts_at.astimezone(UTC).isoformat(),
        "end": appointment.ends_at.astimezone(UTC).isoformat(),
        "local_start": appointment.starts_at.astimezone(tz).isoformat(),
        "time_zone": appointment.time_zone,
        "consultation_type": ConsultationTypeSerializer(
            appointment.consultation_type
        ).data,
        "participants": [
            {
                "id": p.practitioner_id,
                "name": p.practitioner.get_full_name(),
                "seat_department": p.seat_department_id,
            }
            for p in appointment.participants.all()
        ],
        "patient": {
            "id": str(appointment.patient_id),
            "name": labels.get(str(appointment.patient_id)),
        },
        "room": room.get_absolute_url() if room is not None else None,
        "booked_by": appointment.booked_by_id,
        "booked_at": appointment.booked_at.isoformat(),
        "cancellation_reason": appointment.cancellation_reason or None,
    }


class AppointmentListView(APIView):
    """Your appointments (coordinators: your organisation's) in a range, or book one."""

    @extend_schema(
        operation_id="scheduling_appointments_list",
        parameters=[RangeQuery],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        query = RangeQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = query.validated_data
        start, end = _day_range(data["start_date"], data["end_date"], data["time_zone"])
        # The whole window, including its past part, for a calendar.
        tz = zoneinfo.ZoneInfo(data["time_zone"])
        start = datetime.combine(
            data["start_date"], datetime.min.time(), tzinfo=tz
        ).astimezone(UTC)
        appointments = list(
            selectors.appointments_for(request.user, start=start, end=end)
        )
        labels = patient_labels(
            actor=request.user,
            patient_ids=[a.patient_id for a in appointments],
            ctx=_ctx(request),
        )
        return Response(
            {"appointments": [appointment_json(a, labels) for a in appointments]}
        )

    @extend_schema(request=AppointmentCreateSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        payload = AppointmentCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        kind = selectors.consultation_type_get(request.user, data["consultation_type"])
        if "end" in data:
            services.check_booking_times(
                starts_at=data["start"],
                ends_at=data["end"],
                kind=kind,
                time_zone=data["time_zone"],
            )
        seat_departments = data.get("seat_departments")
        if seat_departments is not None and len(seat_departments) != len(
            data["practitioners"]
        ):
            raise InvalidBooking(
                "One seat department per practitioner.", code="invalid_participants"
            )
        ctx = _ctx(request)
        appointment = services.appointment_book(
            actor=request.user,
            patient_id=data["patient"],
            consultation_type=kind,
            practitioner_ids=data["practitioners"],
            seat_departments=seat_departments,
            starts_at=data["start"],
            time_zone=data["time_zone"],
            reason=data.get("reason", ""),
            ctx=ctx,
        )
        labels = patient_labels(
            actor=request.user, patient_ids=[appointment.patient_id], ctx=ctx
        )
        return Response(
            appointment_json(appointment, labels), status=status.HTTP_201_CREATED
        )


class AppointmentDetailView(APIView):
    """One appointment."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, appointment_id: str) -> Response:
        appointment = selectors.appointment_get(request.user, appointment_id)
        labels = patient_labels(
            actor=request.user, patient_ids=[appointment.patient_id], ctx=_ctx(request)
        )
        body = appointment_json(appointment, labels)
        if str(appointment.patient_id) in labels:
            body["reason"] = services.appointment_reason(appointment)
        return Response(body)


class CancelSerializer(StrictSerializer):
    reason = serializers.ChoiceField(choices=services.CANCEL_REASONS)


class AppointmentCancelView(APIView):
    """Cancel with a reason code."""

    @extend_schema(request=CancelSerializer, responses={200: dict})
    def post(self, request: Request, appointment_id: str) -> Response:
        payload = CancelSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        appointment = services.appointment_cancel(
            actor=request.user,
            appointment_id=appointment_id,
            reason=payload.validated_data["reason"],
            ctx=_ctx(request),
        )
        return Response(appointment_json(appointment, {}))


class RescheduleSerializer(StrictSerializer):
    start = serializers.DateTimeField()


class AppointmentRescheduleView(APIView):
    """Move to a new start; the old appointment is cancelled as 'rescheduled'."""

    @extend_schema(request=RescheduleSerializer, responses={201: dict})
    def post(self, request: Request, appointment_id: str) -> Response:
        payload = RescheduleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        appointment = services.appointment_reschedule(
            actor=request.user,
            appointment_id=appointment_id,
            starts_at=payload.validated_data["start"],
            ctx=_ctx(request),
        )
        return Response(
            appointment_json(appointment, {}), status=status.HTTP_201_CREATED
        )


class StatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=Appointment.Status.choices)


class AppointmentStatusView(APIView):
    """Check in, mark arrived, fulfilled or no-show."""

    @extend_schema(request=StatusSerializer, responses={200: dict})
    def post(self, request: Request, appointment_id: str) -> Response:
        payload = StatusSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        appointment = services.appointment_set_status(
            actor=request.user,
            appointment_id=appointment_id,
            status=payload.validated_data["status"],
            ctx=_ctx(request),
        )
        return Response(appointment_json(appointment, {}))
