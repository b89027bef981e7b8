"""The patient waiting room: one-time links, arrival, presence and admission.

A patient has no account. A coordinator or clinician issues a one-time link
bound to one appointment; the first browser to open it binds it to that
browser's session, which then carries the patient into the waiting room and,
once admitted, into the consultation room. Any other browser is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from consult.accounts.models import Notification
from consult.events import group_name, publish_on_commit
from consult.exceptions import ConsultError, NotFound, PermissionDenied
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AuditEvent
from consult.scheduling import events
from consult.scheduling.models import (
    Appointment,
    ConsultationType,
    PatientAccessLink,
    WaitingEntry,
)
from consult.scheduling.selectors import appointment_get

# A link opens from this long before the start until the appointment ends.
LINK_OPENS_BEFORE = timedelta(days=7)
# Patients may enter the waiting room this long before their start time.
EARLY_ARRIVAL = timedelta(minutes=30)
SESSION_KEY = "waiting_appointment"


class LinkRefused(ConsultError):
    """The patient link cannot be used (expired, used elsewhere, revoked, cancelled)."""

    status_code = 410

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def waiting_group(appointment_id: object) -> str:
    """The patient's own socket(s) for one appointment."""
    return group_name("waiting", appointment_id)


@transaction.atomic
def patient_link_issue(
    *, actor: Any, appointment_id: object, ctx: AccessContext
) -> tuple[str, datetime]:
    """Issue a one-time link for the appointment's patient; revoke older unused ones.

    Returns the link's path (``/join/<token>``) and its expiry.
    """
    appointment = appointment_get(actor, appointment_id)
    if not appointment.is_active:
        raise ConsultError("The appointment is not active.", code="not_active")
    if appointment.consultation_type.modality != ConsultationType.Modality.VIDEO:
        raise ConsultError(
            "Only video consultations have a waiting room.", code="not_video"
        )
    now = timezone.now()
    PatientAccessLink.objects.filter(
        appointment=appointment, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    link = PatientAccessLink.objects.create(
        appointment=appointment,
        token_hash=_hash(token),
        created_by=actor,
        expires_at=appointment.ends_at,
    )
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        ctx=ctx,
        object_type="patient_link",
        object_id=str(link.pk),
        patient_id=appointment.patient_id,
        explained=True,
        explanation="scheduling",
        extra={"appointment": str(appointment.pk)},
    )
    return reverse("waiting:join", kwargs={"token": token}), link.expires_at


@transaction.atomic
def patient_link_open(*, token: str, session_key: str) -> Appointment:
    """Bind the link to this browser session on first use; refuse any other session."""
    link = (
        PatientAccessLink.objects.select_for_update()
        .select_related("appointment")
        .filter(token_hash=_hash(token))
        .first()
    )
    if link is None or link.revoked_at is not None:
        raise NotFound("This link is not valid.", code="link_invalid")
    now = timezone.now()
    appointment = link.appointment
    if now >= link.expires_at:
        raise LinkRefused("This link has expired.", code="link_expired")
    if not appointment.is_active:
        raise LinkRefused(
            "This appointment was cancelled.", code="appointment_cancelled"
        )
    if now < appointment.starts_at - LINK_OPENS_BEFORE:
        raise LinkRefused("This link is not open yet.", code="link_not_open")
    if link.used_at is None:
        link.used_at, link.session_hash = now, _hash(session_key)
        link.save(update_fields=["used_at", "session_hash"])
    elif link.session_hash != _hash(session_key):
        raise LinkRefused(
            "This link was already used on another device.", code="link_used"
        )
    return appointment


@dataclass(frozen=True, slots=True)
class WaitingView:
    """What the patient's waiting page shows (no PHI beyond their own appointment)."""

    appointment_id: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    clinicians: list[str]
    consultation: str
    admitted: bool
    room_url: str | None
    can_enter: bool


def waiting_view(appointment_id: object) -> WaitingView:
    """The waiting page's data for the appointment bound to the patient's session."""
    appointment = (
        Appointment.objects.select_related("consultation_type")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None:
        raise NotFound()
    entry = WaitingEntry.objects.filter(appointment=appointment).first()
    admitted = bool(entry and entry.admitted_at)
    room = getattr(appointment, "room", None)
    return WaitingView(
        appointment_id=str(appointment.pk),
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        time_zone=appointment.time_zone,
        clinicians=[
            p.practitioner.get_full_name()
            for p in appointment.participants.select_related("practitioner")
        ],
        consultation=appointment.consultation_type.name,
        admitted=admitted,
        room_url=room.get_absolute_url() if (admitted and room) else None,
        can_enter=appointment.is_active
        and timezone.now() >= appointment.starts_at - EARLY_ARRIVAL,
    )


def _participant_ids(appointment: Appointment) -> list[int]:
    return list(appointment.participants.values_list("practitioner_id", flat=True))


@transaction.atomic
def waiting_arrive(
    *, appointment_id: object, device_checks: dict[str, Any]
) -> WaitingEntry:
    """The patient's waiting page connected: record arrival and tell the clinicians."""
    appointment = (
        Appointment.objects.select_for_update().filter(pk=appointment_id).first()
    )
    if appointment is None or not appointment.is_active:
        raise LinkRefused(
            "This appointment is not active.", code="appointment_cancelled"
        )
    if timezone.now() < appointment.starts_at - EARLY_ARRIVAL:
        raise ConsultError(
            "The waiting room opens 30 minutes before.", code="too_early"
        )
    now = timezone.now()
    entry, created = WaitingEntry.objects.get_or_create(appointment=appointment)
    if not created and entry.left_at is not None:
        entry.arrived_at, entry.left_at = now, None
    entry.last_seen_at = now
    entry.device_checks = device_checks or entry.device_checks
    entry.save()
    if appointment.status == Appointment.Status.BOOKED:
        appointment.status = Appointment.Status.ARRIVED
        appointment.save(update_fields=["status"])
    participants = _participant_ids(appointment)
    if created or entry.arrived_at == now:
        for pid in participants:
            Notification.objects.get_or_create(
                user_id=pid,
                dedupe_key=f"waiting:{appointment.pk}:{int(now.timestamp())}",
                defaults={
                    "kind": Notification.Kind.WAITING,
                    "title": (
                        f"Your {appointment.consultation_type.name} patient is waiting"
                    ),
                    "url": reverse("scheduling:calendar"),
                },
            )
    events.waiting_changed_on_commit(
        appointment, practitioner_ids=participants, state="waiting"
    )
    return entry


@transaction.atomic
def waiting_update_checks(
    *, appointment_id: object, device_checks: dict[str, Any]
) -> None:
    """Store the latest camera, microphone and connection checks; refresh presence."""
    entry = (
        WaitingEntry.objects.select_for_update()
        .filter(appointment_id=appointment_id)
        .first()
    )
    if entry is None:
        return
    entry.device_checks, entry.last_seen_at = device_checks, timezone.now()
    entry.save(update_fields=["device_checks", "last_seen_at"])
    events.waiting_changed_on_commit(
        entry.appointment,
        practitioner_ids=_participant_ids(entry.appointment),
        state="checks",
    )


@transaction.atomic
def waiting_leave(*, appointment_id: object) -> None:
    """The patient's page closed or lost its connection."""
    entry = (
        WaitingEntry.objects.select_for_update()
        .filter(appointment_id=appointment_id)
        .first()
    )
    if entry is None or entry.admitted_at is not None or entry.left_at is not None:
        return
    entry.left_at = timezone.now()
    entry.save(update_fields=["left_at"])
    events.waiting_changed_on_commit(
        entry.appointment,
        practitioner_ids=_participant_ids(entry.appointment),
        state="left",
    )


@transaction.atomic
def waiting_admit(*, actor: Any, appointment_id: object, ctx: AccessContext) -> str:
    """A participant clinician admits the waiting patient; returns the room URL."""
    try:
        pk = uuid.UUID(str(appointment_id))
    except ValueError as exc:
        raise NotFound() from exc
    appointment = (
        Appointment.objects.select_for_update()
        .filter(pk=pk, participants__practitioner=actor)
        .first()
    )
    if appointment is None:
        raise NotFound()
    entry = (
        WaitingEntry.objects.select_for_update().filter(appointment=appointment).first()
    )
    if entry is None or entry.left_at is not None:
        raise ConsultError(
            "The patient is not in the waiting room.", code="not_waiting"
        )
    room = getattr(appointment, "room", None)
    if room is None:
        raise PermissionDenied("This appointment has no video room.", code="no_room")
    if entry.admitted_at is None:
        entry.admitted_at, entry.admitted_by = timezone.now(), actor
        entry.save(update_fields=["admitted_at", "admitted_by"])
        if appointment.status in (
            Appointment.Status.BOOKED,
            Appointment.Status.ARRIVED,
        ):
            appointment.status = Appointment.Status.CHECKED_IN
            appointment.save(update_fields=["status"])
        audit_event_record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            ctx=ctx,
            object_type="appointment",
            object_id=str(appointment.pk),
            patient_id=appointment.patient_id,
            explained=True,
            explanation="consultation",
            extra={"op": "admit"},
        )
    url = room.get_absolute_url()
    publish_on_commit(
        waiting_group(appointment.pk), {"type": "waiting.admitted", "room": url}
    )
    events.waiting_changed_on_commit(
        appointment, practitioner_ids=_participant_ids(appointment), state="admitted"
    )
    return url


@dataclass(frozen=True, slots=True)
class WaitingPatient:
    """A row of the clinician's waiting list."""

    appointment_id: str
    patient_id: str
    starts_at: datetime
    consultation: str
    arrived_at: datetime
    admitted_at: datetime | None
    device_checks: dict[str, Any]


def waiting_list(actor: Any) -> list[WaitingPatient]:
    """Patients waiting in rooms of the actor's appointments today, earliest first."""
    now = timezone.now()
    entries = (
        WaitingEntry.objects.filter(
            appointment__participants__practitioner=actor,
            left_at__isnull=True,
            appointment__ends_at__gt=now - timedelta(hours=1),
            appointment__starts_at__lt=now + timedelta(hours=12),
        )
        .select_related("appointment__consultation_type")
        .order_by("arrived_at")
    )
    return [
        WaitingPatient(
            appointment_id=str(e.appointment_id),
            patient_id=str(e.appointment.patient_id),
            starts_at=e.appointment.starts_at,
            consultation=e.appointment.consultation_type.name,
            arrived_at=e.arrived_at,
            admitted_at=e.admitted_at,
            device_checks=e.device_checks,
        )
        for e in entries
    ]
