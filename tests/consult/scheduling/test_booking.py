"""Booking: validation codes, atomic MDT booking, cancel, reschedule, access rules."""

from __future__ import annotations

import threading
from datetime import UTC, date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consult.exceptions import NotFound
from consult.records.models import AuditEvent, CareRelationship
from consult.rooms.models import Room
from consult.scheduling import services
from consult.scheduling.errors import InvalidBooking, SlotUnavailable
from consult.scheduling.models import Appointment, AppointmentParticipant
from tests.consult.scheduling.conftest import CTX, LONDON, local, next_weekday
from tests.factories import DepartmentFactory, HospitalFactory, UserFactory

pytestmark = pytest.mark.django_db


def _book(
    clinic,
    start,
    *,
    practitioners=None,
    kind=None,
    patient=None,
    actor=None,
    zone=LONDON,
):  # type: ignore[no-untyped-def]
    return services.appointment_book(
        actor=actor or clinic.coordinator,
        patient_id=(patient or clinic.patients[0]).pk,
        consultation_type=kind or clinic.video,
        practitioner_ids=[p.pk for p in (practitioners or [clinic.cardiologist])],
        starts_at=start,
        time_zone=zone,
        reason="Synthetic: chest pain follow-up",
        ctx=CTX,
    )


def test_booking_creates_appointment_room_and_care_relationship(clinic) -> None:
    """Booking holds the diary, opens a room and lets the specialist see the patient."""
    appointment = _book(clinic, local(next_weekday(1), 10))
    assert (
        appointment.status,
        Room.objects.filter(appointment=appointment).count(),
    ) == ("booked", 1)
    assert CareRelationship.objects.filter(
        user=clinic.cardiologist, patient=clinic.patients[0], kind="consultation"
    ).exists()


def test_booking_is_audited_with_who_booked(clinic) -> None:
    """The booking is an audit event naming the appointment and the coordinator."""
    appointment = _book(clinic, local(next_weekday(1), 10))
    event = AuditEvent.objects.get(
        object_type="appointment", object_id=str(appointment.pk)
    )
    assert (event.actor_id, event.action, event.outcome) == (
        clinic.coordinator.pk,
        "create",
        "allowed",
    )


def test_reason_is_encrypted_at_rest(clinic) -> None:
    """The booking reason is clinical free text: not stored in clear."""
    appointment = _book(clinic, local(next_weekday(1), 10))
    with connection.cursor() as cursor:
        cursor.execute("SELECT reason_ciphertext FROM scheduling_appointment")
        (stored,) = cursor.fetchone()
    assert "chest pain" not in stored and "chest pain" in services.appointment_reason(
        appointment
    )


def test_same_slot_twice_is_refused(clinic) -> None:
    """The second booking of the same time gets slot_unavailable."""
    start = local(next_weekday(1), 10)
    _book(clinic, start)
    with pytest.raises(SlotUnavailable):
        _book(clinic, start, patient=clinic.patients[1])


def test_overlapping_slot_is_refused(clinic) -> None:
    """A booking starting inside another is refused too."""
    _book(clinic, local(next_weekday(1), 10))
    with pytest.raises(SlotUnavailable):
        _book(clinic, local(next_weekday(1), 10, 15), patient=clinic.patients[1])


@pytest.mark.parametrize(
    ("hour", "weeks", "zone", "code"),
    [
        (18, 2, LONDON, "outside_availability"),
        (8, 2, LONDON, "outside_availability"),
        (10, -3, LONDON, "in_the_past"),
        (10, 2, "Mars/Olympus_Mons", "unknown_time_zone"),
    ],
)
def test_impossible_bookings_get_stable_codes(clinic, hour, weeks, zone, code) -> None:  # type: ignore[no-untyped-def]
    """Outside availability, past or unknown zone: 400, a stable code, nothing saved."""
    with pytest.raises(InvalidBooking) as caught:
        _book(clinic, local(next_weekday(1, weeks_ahead=weeks), hour), zone=zone)
    assert (caught.value.code, Appointment.objects.count()) == (code, 0)


def test_saturday_is_outside_a_weekday_diary(clinic) -> None:
    """No rule on Saturdays means no booking on a Saturday."""
    with pytest.raises(InvalidBooking, match="availability"):
        _book(clinic, local(next_weekday(5), 10))


def test_mdt_books_every_participant_atomically(clinic) -> None:
    """An MDT meeting holds all diaries, or none if one is taken."""
    start = local(next_weekday(2), 14)
    _book(
        clinic,
        start,
        practitioners=[clinic.radiologists[0]],
        patient=clinic.patients[2],
    )
    with pytest.raises(SlotUnavailable):
        _book(
            clinic,
            start,
            practitioners=[clinic.cardiologist, clinic.radiologists[0]],
            kind=clinic.mdt,
        )
    assert not AppointmentParticipant.objects.filter(
        practitioner=clinic.cardiologist
    ).exists()


def test_mdt_needs_an_mdt_consultation_type(clinic) -> None:
    """Several practitioners on a one-to-one type is refused."""
    with pytest.raises(InvalidBooking, match="MDT"):
        _book(
            clinic,
            local(next_weekday(2), 14),
            practitioners=[clinic.cardiologist, clinic.radiologists[0]],
        )


def test_cancel_frees_the_slot(clinic) -> None:
    """After cancelling, the same time can be booked again."""
    start = local(next_weekday(1), 10)
    first = _book(clinic, start)
    services.appointment_cancel(
        actor=clinic.coordinator,
        appointment_id=first.pk,
        reason="patient_request",
        ctx=CTX,
    )
    second = _book(clinic, start, patient=clinic.patients[1])
    assert (Appointment.objects.get(pk=first.pk).status, second.status) == (
        "cancelled",
        "booked",
    )


def test_reschedule_moves_everyone_and_keeps_history(clinic) -> None:
    """Reschedule cancels the old appointment as 'rescheduled' and links the new one."""
    old = _book(clinic, local(next_weekday(1), 10))
    new = services.appointment_reschedule(
        actor=clinic.coordinator,
        appointment_id=old.pk,
        starts_at=local(next_weekday(1), 11),
        ctx=CTX,
    )
    old.refresh_from_db()
    assert (old.status, old.cancellation_reason, new.rescheduled_from_id) == (
        "cancelled",
        "rescheduled",
        old.pk,
    )


def test_failed_reschedule_keeps_the_original(clinic) -> None:
    """If the new time is taken, the original appointment stays booked."""
    old = _book(clinic, local(next_weekday(1), 10))
    _book(clinic, local(next_weekday(1), 11), patient=clinic.patients[1])
    with pytest.raises(SlotUnavailable):
        services.appointment_reschedule(
            actor=clinic.coordinator,
            appointment_id=old.pk,
            starts_at=local(next_weekday(1), 11),
            ctx=CTX,
        )
    old.refresh_from_db()
    assert old.status == "booked"


def test_other_hospitals_coordinator_cannot_book_or_see(clinic) -> None:
    """A coordinator of another hospital gets NotFound for these practitioners."""
    outsider = UserFactory(
        role="nurse", department=DepartmentFactory(organisation=HospitalFactory())
    )
    with pytest.raises(NotFound):
        _book(clinic, local(next_weekday(1), 10), actor=outsider)


def test_patient_outside_reach_cannot_be_booked(clinic) -> None:
    """Coordinators can't book patients without a care relationship (audited denial)."""
    radiology_nurse = UserFactory(role="nurse", department=clinic.radiology)
    with pytest.raises(NotFound):
        _book(clinic, local(next_weekday(1), 10), actor=radiology_nurse)
    assert AuditEvent.objects.filter(
        actor_id=radiology_nurse.pk, outcome="denied"
    ).exists()


@pytest.mark.parametrize(("month", "utc_hour"), [(1, 9), (7, 8)])
def test_nine_oclock_london_is_booked_at_the_seasons_offset(
    clinic, month, utc_hour
) -> None:  # type: ignore[no-untyped-def]
    """09:00 London is 09:00Z in January (GMT) and 08:00Z in July (BST)."""
    year = timezone.now().year + 1
    day = date(year, month, 1)
    monday = day + timedelta(days=(0 - day.weekday()) % 7)
    appointment = _book(clinic, local(monday, 9))
    assert appointment.starts_at.astimezone(UTC).hour == utc_hour


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_of_one_slot_have_exactly_one_winner(clinic) -> None:
    """Sixteen coordinators booking the same slot at once: one wins, fifteen get 409."""
    start = local(next_weekday(3), 15)
    outcomes: list[str] = []
    barrier = threading.Barrier(16)

    def attempt(n: int) -> None:
        try:
            barrier.wait()
            _book(clinic, start, patient=clinic.patients[n % 4])
            outcomes.append("booked")
        except SlotUnavailable:
            outcomes.append("slot_unavailable")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (
        sorted(outcomes).count("booked") == 1
        and outcomes.count("slot_unavailable") == 15
    )
    assert (
        AppointmentParticipant.objects.filter(
            practitioner=clinic.cardiologist, active=True
        ).count()
        == 1
    )


@pytest.mark.postgres
def test_database_refuses_overlap_even_without_the_service(clinic) -> None:
    """The exclusion constraint itself rejects a second overlapping active seat."""
    from django.db import IntegrityError, transaction

    appointment = _book(clinic, local(next_weekday(1), 10))
    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentParticipant.objects.create(
            appointment=_book(
                clinic, local(next_weekday(1), 12), patient=clinic.patients[1]
            ),
            practitioner=clinic.cardiologist,
            starts_at=appointment.starts_at + timedelta(minutes=10),
            ends_at=appointment.ends_at + timedelta(minutes=10),
        )
