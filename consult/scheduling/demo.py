"""Synthetic scheduling data for the demo: consultation types, diaries, bookings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from consult.accounts.models import Organisation, User
from consult.records.context import COMMAND
from consult.records.models import Patient
from consult.scheduling import services, waiting
from consult.scheduling.availability import align_up
from consult.scheduling.errors import InvalidBooking, SlotUnavailable
from consult.scheduling.models import (
    Appointment,
    AvailabilityException,
    AvailabilityRule,
    ConsultationType,
)

ZONE = "Europe/London"
TYPES = [
    ("video-30", "Video consultation", 30, ConsultationType.Modality.VIDEO, False),
    ("video-15", "Video follow-up", 15, ConsultationType.Modality.VIDEO, False),
    ("clinic-20", "Clinic appointment", 20, ConsultationType.Modality.IN_PERSON, False),
    ("mdt-60", "MDT meeting", 60, ConsultationType.Modality.VIDEO, True),
]
SESSIONS = [(time(9), time(12, 30)), (time(13, 30), time(17))]


def _next(weekday: int, *, after: date) -> date:
    return after + timedelta(days=(weekday - after.weekday()) % 7 or 7)


def _local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def seed_scheduling(
    *, hospital: Organisation, users: dict[str, User], patients: list[Patient]
) -> str | None:
    """Create types, diaries and a few bookings; return a patient link for today.

    Idempotent: types and rules are keyed; bookings are only made into a diary
    that has none yet.
    """
    kinds = {}
    for code, name, minutes, modality, is_mdt in TYPES:
        kinds[code] = ConsultationType.objects.get_or_create(
            organisation=hospital,
            code=code,
            defaults={
                "name": name,
                "duration_minutes": minutes,
                "modality": modality,
                "is_mdt": is_mdt,
            },
        )[0]
    clinicians = [
        users[u] for u in ("dr.cardio", "dr.radio", "dr.radio2", "dr.surgeon")
    ]
    for person in clinicians:
        for weekday in range(5):
            for start, end in SESSIONS:
                AvailabilityRule.objects.get_or_create(
                    practitioner=person,
                    weekday=weekday,
                    start_time=start,
                    defaults={
                        "end_time": end,
                        "time_zone": ZONE,
                        "valid_from": date(2026, 1, 1),
                    },
                )
    coordinator, cardio = users["nurse.cardio"], users["dr.cardio"]
    cardiology_patients = patients[0::4]
    if not Appointment.objects.filter(participants__practitioner=cardio).exists():
        today = timezone.localdate()
        plans = [
            (kinds["video-30"], [cardio], _next(1, after=today), time(10), 0),
            (kinds["video-15"], [cardio], _next(2, after=today), time(14), 1),
            (kinds["clinic-20"], [cardio], _next(3, after=today), time(9, 30), 2),
            (
                kinds["mdt-60"],
                [cardio, users["dr.radio"], users["dr.surgeon"]],
                _next(3, after=today),
                time(14),
                3,
            ),
        ]
        for kind, who, day, at, n in plans:
            _book(coordinator, kind, who, _local(day, at), cardiology_patients[n])
    return _today_link(coordinator, cardio, kinds["video-30"], cardiology_patients[4])


def _book(
    actor: User,
    kind: ConsultationType,
    who: list[User],
    start: datetime,
    patient: Patient,
) -> Appointment | None:
    try:
        return services.appointment_book(
            actor=actor,
            patient_id=patient.pk,
            consultation_type=kind,
            practitioner_ids=[p.pk for p in who],
            starts_at=start,
            time_zone=ZONE,
            reason="Synthetic demo booking.",
            ctx=COMMAND,
        )
    except (InvalidBooking, SlotUnavailable):
        return None


def _today_link(
    coordinator: User, cardio: User, kind: ConsultationType, patient: Patient
) -> str | None:
    """A video consultation starting soon, with a fresh patient link, for the demo."""
    now = timezone.now()
    soon = Appointment.objects.filter(
        participants__practitioner=cardio,
        status__in=Appointment.ACTIVE,
        starts_at__gte=now,
        starts_at__lt=now + timedelta(hours=2),
        consultation_type=kind,
    ).first()
    if soon is None:
        AvailabilityException.objects.create(
            practitioner=cardio,
            kind=AvailabilityException.Kind.EXTRA,
            starts_at=now - timedelta(minutes=30),
            ends_at=now + timedelta(hours=3),
            note="Demo session",
        )
        soon = _book(
            coordinator,
            kind,
            [cardio],
            align_up(now + timedelta(minutes=10), timedelta(minutes=15)),
            patient,
        )
    if soon is None:
        return None
    path, _ = waiting.patient_link_issue(
        actor=coordinator, appointment_id=soon.pk, ctx=COMMAND
    )
    return path


def describe(link: Any) -> str:
    """A line for the demo's console."""
    if not link:
        return ""
    return f"Patient link for dr.cardio's next video consultation: http://127.0.0.1:8000{link}"
