"""Writes on schedules: availability, booking, cancelling, rescheduling.

Double-booking is impossible by construction: on PostgreSQL an exclusion
constraint over (practitioner, time range) of active participants refuses the
loser of any race; on SQLite every transaction is IMMEDIATE, so the overlap
check and the insert cannot interleave with another writer's.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from consult.accounts.models import Role
from consult.exceptions import NotFound, PermissionDenied
from consult.records import crypto
from consult.records.access import patient_access
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AuditEvent, CareRelationship
from consult.rooms.models import Room
from consult.scheduling import availability, events
from consult.scheduling.errors import InvalidBooking, SlotUnavailable
from consult.scheduling.models import (
    Appointment,
    AppointmentParticipant,
    AvailabilityException,
    AvailabilityRule,
    ConsultationType,
)
from consult.scheduling.selectors import (
    free_intervals_for,
    practitioner_get,
    require_scheduler,
)

# How long after an appointment its clinicians keep access to the patient's record.
CARE_AFTER_APPOINTMENT = timedelta(days=14)
MAX_MDT_SEATS = 12


def _reason_aad(appointment: Appointment) -> str:
    return f"scheduling.appointment.reason:{appointment.pk}"


def appointment_reason(appointment: Appointment) -> str:
    """The decrypted booking reason (clinical free text)."""
    if not appointment.reason_ciphertext:
        return ""
    return crypto.decrypt(appointment.reason_ciphertext, aad=_reason_aad(appointment))


def _check_time_zone(name: str) -> None:
    if name not in zoneinfo.available_timezones():
        raise InvalidBooking(f"Unknown time zone {name!r}.", code="unknown_time_zone")


def check_booking_times(
    *, starts_at: datetime, ends_at: datetime, kind: ConsultationType, time_zone: str
) -> None:
    """Refuse impossible requests with stable codes before touching any diary."""
    _check_time_zone(time_zone)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidBooking("Times must carry a UTC offset.", code="naive_datetime")
    if ends_at <= starts_at:
        raise InvalidBooking(
            "The end is not after the start.", code="invalid_time_range"
        )
    if ends_at - starts_at != timedelta(minutes=kind.duration_minutes):
        raise InvalidBooking(
            f"A {kind.name} lasts {kind.duration_minutes} minutes.",
            code="wrong_duration",
        )
    if starts_at < timezone.now():
        raise InvalidBooking("That time has passed.", code="in_the_past")


def _check_diaries(
    practitioner_ids: Sequence[int], starts_at: datetime, ends_at: datetime
) -> None:
    windows = free_intervals_for(
        practitioner_ids, starts_at, ends_at, include_busy=False
    )
    if not all(
        availability.contains(windows[p], starts_at, ends_at) for p in practitioner_ids
    ):
        raise InvalidBooking(
            "Outside the practitioner's availability.", code="outside_availability"
        )
    busy = AppointmentParticipant.objects.filter(
        practitioner_id__in=practitioner_ids,
        active=True,
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    )
    if busy.exists():
        raise SlotUnavailable()


def appointment_book(
    *,
    actor: Any,
    patient_id: object,
    consultation_type: ConsultationType,
    practitioner_ids: Sequence[int],
    starts_at: datetime,
    time_zone: str,
    reason: str,
    ctx: AccessContext,
    seat_departments: Sequence[int | None] | None = None,
    rescheduled_from: Appointment | None = None,
) -> Appointment:
    """Book one consultation, or an MDT meeting for every participant at once.

    Raises ``InvalidBooking`` (400), ``SlotUnavailable`` (409), ``NotFound``.
    """
    require_scheduler(actor)
    ids = list(dict.fromkeys(practitioner_ids))
    if not ids or len(ids) != len(practitioner_ids) or len(ids) > MAX_MDT_SEATS:
        raise InvalidBooking(
            "Name each practitioner once.", code="invalid_participants"
        )
    if len(ids) > 1 and not consultation_type.is_mdt:
        raise InvalidBooking(
            "Only MDT consultations have several practitioners.", code="not_mdt"
        )
    ends_at = starts_at + timedelta(minutes=consultation_type.duration_minutes)
    check_booking_times(
        starts_at=starts_at,
        ends_at=ends_at,
        kind=consultation_type,
        time_zone=time_zone,
    )
    practitioners = [practitioner_get(actor, pid) for pid in ids]
    if actor.role != Role.NURSE and actor.pk not in ids:
        raise PermissionDenied(
            "Clinicians book their own diary; coordinators book others'."
        )
    try:
        with patient_access(
            actor=actor, patient_id=patient_id, action=AuditEvent.Action.CREATE, ctx=ctx
        ) as grant:
            _check_diaries(ids, starts_at, ends_at)
            appointment = Appointment(
                organisation_id=actor.organisation_id,
                patient=grant.patient,
                consultation_type=consultation_type,
                starts_at=starts_at,
                ends_at=ends_at,
                time_zone=time_zone,
                booked_by=actor,
                rescheduled_from=rescheduled_from,
            )
            if reason:
                appointment.reason_ciphertext = crypto.encrypt(
                    reason, aad=_reason_aad(appointment)
                )
            appointment.full_clean(
                exclude=["patient", "organisation", "booked_by", "consultation_type"]
            )
            appointment.save(force_insert=True)
            departments = list(seat_departments or [None] * len(ids))
            with transaction.atomic():
                AppointmentParticipant.objects.bulk_create(
                    AppointmentParticipant(
                        appointment=appointment,
                        practitioner=p,
                        seat_department_id=departments[i],
                        starts_at=starts_at,
                        ends_at=ends_at,
                    )
                    for i, p in enumerate(practitioners)
                )
            CareRelationship.objects.bulk_create(
                CareRelationship(
                    patient=grant.patient,
                    kind=CareRelationship.Kind.CONSULTATION,
                    user=p,
                    source=f"appointment:{appointment.pk}",
                    ends_at=ends_at + CARE_AFTER_APPOINTMENT,
                    created_by=actor,
                )
                for p in practitioners
            )
            if consultation_type.modality == ConsultationType.Modality.VIDEO:
                Room.objects.create(
                    organisation_id=actor.organisation_id,
                    appointment=appointment,
                    kind=Room.Kind.MDT
                    if consultation_type.is_mdt
                    else Room.Kind.CONSULTATION,
                    title=consultation_type.name,
                    created_by=actor,
                )
            grant.object_type, grant.object_id = "appointment", str(appointment.pk)
            grant.extra.update(
                {
                    "participants": ids,
                    "op": "reschedule" if rescheduled_from else "book",
                }
            )
            events.appointment_changed_on_commit(appointment, practitioner_ids=ids)
            return appointment
    except IntegrityError as exc:
        # The exclusion constraint: another booking won the race for this time.
        raise SlotUnavailable() from exc


def _appointment_for_update(actor: Any, appointment_id: object) -> Appointment:
    from consult.scheduling.selectors import appointment_get

    found = appointment_get(actor, appointment_id)
    return (
        Appointment.objects.select_for_update()
        .select_related("consultation_type")
        .get(pk=found.pk)
    )


CANCEL_REASONS = (
    "patient_request",
    "clinician_unavailable",
    "duplicate",
    "rescheduled",
    "other",
)


@transaction.atomic
def appointment_cancel(
    *, actor: Any, appointment_id: object, reason: str, ctx: AccessContext
) -> Appointment:
    """Cancel an active appointment with a reason code, freeing everyone's time."""
    if reason not in CANCEL_REASONS:
        raise InvalidBooking("Unknown cancellation reason.", code="invalid_reason")
    appointment = _appointment_for_update(actor, appointment_id)
    if not appointment.is_active:
        raise InvalidBooking("The appointment is not active.", code="not_active")
    appointment.status = Appointment.Status.CANCELLED
    appointment.cancelled_by, appointment.cancelled_at = actor, timezone.now()
    appointment.cancellation_reason = reason
    appointment.save(
        update_fields=["status", "cancelled_by", "cancelled_at", "cancellation_reason"]
    )
    appointment.participants.update(active=False)
    CareRelationship.objects.filter(source=f"appointment:{appointment.pk}").update(
        ends_at=timezone.now()
    )
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        ctx=ctx,
        object_type="appointment",
        object_id=str(appointment.pk),
        patient_id=appointment.patient_id,
        explained=True,
        explanation="scheduling",
        extra={"op": "cancel", "reason": reason},
    )
    participant_ids = list(
        appointment.participants.values_list("practitioner_id", flat=True)
    )
    events.appointment_changed_on_commit(appointment, practitioner_ids=participant_ids)
    return appointment


def appointment_reschedule(
    *, actor: Any, appointment_id: object, starts_at: datetime, ctx: AccessContext
) -> Appointment:
    """Reschedule atomically: cancel, then book the same people at ``starts_at``."""
    with transaction.atomic():
        old = _appointment_for_update(actor, appointment_id)
        participants = list(
            old.participants.order_by("pk").values_list(
                "practitioner_id", "seat_department_id"
            )
        )
        reason = appointment_reason(old)
        appointment_cancel(
            actor=actor, appointment_id=old.pk, reason="rescheduled", ctx=ctx
        )
        return appointment_book(
            actor=actor,
            patient_id=old.patient_id,
            consultation_type=old.consultation_type,
            practitioner_ids=[p for p, _ in participants],
            seat_departments=[d for _, d in participants],
            starts_at=starts_at,
            time_zone=old.time_zone,
            reason=reason,
            ctx=ctx,
            rescheduled_from=old,
        )


# booked -> arrived (in the waiting room) -> checked-in (admitted, the
# consultation begins) -> fulfilled; no-show from any waiting state.
STATUS_TRANSITIONS = {
    Appointment.Status.PROPOSED: {
        Appointment.Status.PENDING,
        Appointment.Status.BOOKED,
    },
    Appointment.Status.PENDING: {Appointment.Status.BOOKED},
    Appointment.Status.BOOKED: {
        Appointment.Status.ARRIVED,
        Appointment.Status.CHECKED_IN,
        Appointment.Status.NOSHOW,
    },
    Appointment.Status.ARRIVED: {
        Appointment.Status.CHECKED_IN,
        Appointment.Status.FULFILLED,
        Appointment.Status.NOSHOW,
    },
    Appointment.Status.CHECKED_IN: {Appointment.Status.FULFILLED},
}


@transaction.atomic
def appointment_set_status(
    *, actor: Any, appointment_id: object, status: str, ctx: AccessContext
) -> Appointment:
    """Advance along FHIR's status flow (checked-in, arrived, fulfilled, noshow)."""
    appointment = _appointment_for_update(actor, appointment_id)
    if status not in STATUS_TRANSITIONS.get(appointment.status, set()):
        raise InvalidBooking(
            f"Cannot go from {appointment.status} to {status}.",
            code="invalid_transition",
        )
    appointment.status = status
    appointment.save(update_fields=["status"])
    if status in (Appointment.Status.FULFILLED, Appointment.Status.NOSHOW):
        appointment.participants.update(active=status == Appointment.Status.FULFILLED)
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        ctx=ctx,
        object_type="appointment",
        object_id=str(appointment.pk),
        patient_id=appointment.patient_id,
        explained=True,
        explanation="scheduling",
        extra={"op": "status", "status": status},
    )
    participant_ids = list(
        appointment.participants.values_list("practitioner_id", flat=True)
    )
    events.appointment_changed_on_commit(appointment, practitioner_ids=participant_ids)
    return appointment


def _check_diary_owner(actor: Any, practitioner_id: object) -> Any:
    practitioner = practitioner_get(actor, practitioner_id)
    if actor.role != Role.NURSE and actor.pk != practitioner.pk:
        raise PermissionDenied("Only the clinician or a coordinator edits a diary.")
    return practitioner


@transaction.atomic
def availability_rule_create(
    *, actor: Any, practitioner_id: object, **fields: Any
) -> AvailabilityRule:
    """Add a weekly window to a diary (the clinician's own, or as their coordinator)."""
    practitioner = _check_diary_owner(actor, practitioner_id)
    _check_time_zone(fields.get("time_zone", ""))
    rule = AvailabilityRule(practitioner=practitioner, **fields)
    rule.full_clean()
    rule.save()
    return rule


@transaction.atomic
def availability_exception_create(
    *, actor: Any, practitioner_id: object, **fields: Any
) -> AvailabilityException:
    """Add leave, a public holiday or an extra session to a diary."""
    practitioner = _check_diary_owner(actor, practitioner_id)
    exception = AvailabilityException(practitioner=practitioner, **fields)
    if exception.ends_at <= exception.starts_at:
        raise InvalidBooking(
            "The end is not after the start.", code="invalid_time_range"
        )
    exception.full_clean()
    exception.save()
    return exception


@transaction.atomic
def availability_rule_delete(*, actor: Any, rule_id: int) -> None:
    """Remove a weekly window from a diary; bookings already made stay."""
    rule = (
        AvailabilityRule.objects.filter(pk=rule_id)
        .select_related("practitioner")
        .first()
    )
    if rule is None:
        raise NotFound()
    _check_diary_owner(actor, rule.practitioner_id)
    rule.delete()
