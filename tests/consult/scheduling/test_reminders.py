"""Appointment reminders: once per appointment, to each clinician, without PHI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command

from consult.accounts.models import Notification
from consult.scheduling import reminders, services
from consult.scheduling.models import Appointment
from tests.consult.scheduling.conftest import CTX, LONDON, local, next_weekday

pytestmark = pytest.mark.django_db


@pytest.fixture
def mdt(clinic):  # type: ignore[no-untyped-def]
    """An MDT of the cardiologist and a radiologist, both with email addresses."""
    for n, person in enumerate([clinic.cardiologist, clinic.radiologists[0]]):
        person.email = f"clinician{n}@hospital.example"
        person.save(update_fields=["email"])
    return services.appointment_book(
        actor=clinic.coordinator,
        patient_id=clinic.patients[0].pk,
        consultation_type=clinic.mdt,
        practitioner_ids=[clinic.cardiologist.pk, clinic.radiologists[0].pk],
        starts_at=local(next_weekday(0), 10),
        time_zone=LONDON,
        reason="Synthetic: Canaryreason suspected mass",
        ctx=CTX,
    )


def _send(appointment, *, before=timedelta(hours=23)) -> int:  # type: ignore[no-untyped-def]
    return reminders.appointment_reminders_send(now=appointment.starts_at - before)


def test_each_clinician_gets_a_reminder_notification(clinic, mdt) -> None:  # type: ignore[no-untyped-def]
    """Both MDT clinicians get a reminder notification deduplicated by appointment."""
    _send(mdt)
    found = Notification.objects.filter(kind="reminder").values_list(
        "user_id", "dedupe_key"
    )
    assert sorted(found) == sorted(
        [
            (clinic.cardiologist.pk, f"reminder:{mdt.pk}"),
            (clinic.radiologists[0].pk, f"reminder:{mdt.pk}"),
        ]
    )


def test_each_clinician_gets_an_email(
    clinic, mdt, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    """One email to each clinician's address."""
    with django_capture_on_commit_callbacks(execute=True):
        _send(mdt)
    assert sorted(m.to[0] for m in mail.outbox) == [
        "clinician0@hospital.example",
        "clinician1@hospital.example",
    ]


def test_emails_leave_only_after_commit(
    clinic, mdt, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    """Until the transaction commits, nothing is sent."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _send(mdt)
    assert (len(mail.outbox), len(callbacks)) == (0, 1)


def test_the_email_links_to_the_room(
    clinic, mdt, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    """The email points at where the consultation happens."""
    with django_capture_on_commit_callbacks(execute=True):
        _send(mdt)
    assert reminders.appointment_link(mdt) in mail.outbox[0].body


def test_no_patient_data_in_email_or_notification(
    clinic, mdt, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    """Neither the patient's name nor the reason is in any email or notification."""
    with django_capture_on_commit_callbacks(execute=True):
        _send(mdt)
    texts = [m.subject + m.body for m in mail.outbox] + [
        n.title + n.body + n.url for n in Notification.objects.all()
    ]
    assert [t for t in texts if "anary" in t] == []


def test_the_time_is_in_the_recipients_zone(
    clinic, mdt, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    """A clinician in New York reads the London 10:00 in Eastern time."""
    clinic.radiologists[0].time_zone = "America/New_York"
    clinic.radiologists[0].save(update_fields=["time_zone"])
    _send(mdt)
    title = Notification.objects.get(user=clinic.radiologists[0]).title
    assert " 05:00 E" in title  # EST or EDT, whenever the suite runs


def test_reminding_marks_the_appointment(clinic, mdt) -> None:  # type: ignore[no-untyped-def]
    """reminded_at is set to the run's time."""
    now = mdt.starts_at - timedelta(hours=23)
    reminders.appointment_reminders_send(now=now)
    mdt.refresh_from_db()
    assert mdt.reminded_at == now


def test_a_second_run_sends_nothing(
    clinic, mdt, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    """Running again reminds no one twice."""
    with django_capture_on_commit_callbacks(execute=True):
        _send(mdt)
        second = _send(mdt, before=timedelta(hours=22))
    assert (second, len(mail.outbox), Notification.objects.count()) == (0, 2, 2)


def test_appointments_beyond_the_lead_wait(clinic, mdt) -> None:  # type: ignore[no-untyped-def]
    """25 hours ahead with the default 24-hour lead: not yet."""
    assert _send(mdt, before=timedelta(hours=25)) == 0


def test_the_lead_is_read_from_settings_at_call_time(clinic, mdt, settings) -> None:  # type: ignore[no-untyped-def]
    """APPOINTMENT_REMINDER_LEAD = 48 h reminds an appointment 47 hours ahead."""
    settings.APPOINTMENT_REMINDER_LEAD = timedelta(hours=48)
    assert _send(mdt, before=timedelta(hours=47)) == 1


def test_cancelled_appointments_are_not_reminded(clinic, mdt) -> None:  # type: ignore[no-untyped-def]
    """A cancelled appointment gets no reminder."""
    services.appointment_cancel(
        actor=clinic.coordinator, appointment_id=mdt.pk, reason="duplicate", ctx=CTX
    )
    assert _send(mdt) == 0


def test_started_appointments_are_not_reminded(clinic, mdt) -> None:  # type: ignore[no-untyped-def]
    """An appointment whose start has passed is too late to remind."""
    assert _send(mdt, before=timedelta(minutes=-5)) == 0


def test_the_command_sends_due_reminders(clinic, mdt, settings) -> None:  # type: ignore[no-untyped-def]
    """manage.py send_reminders reminds what is due now."""
    settings.APPOINTMENT_REMINDER_LEAD = timedelta(days=60)
    call_command("send_reminders")
    assert Appointment.objects.get(pk=mdt.pk).reminded_at is not None


def test_the_command_loops(clinic, mdt, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """--loop runs round after round, sleeping SECONDS between them."""
    settings.APPOINTMENT_REMINDER_LEAD = timedelta(days=60)
    sleeps: list[float] = []
    monkeypatch.setattr("time.sleep", sleeps.append)
    call_command("send_reminders", "--loop", "30", "--iterations", "3")
    assert sleeps == [30, 30]
