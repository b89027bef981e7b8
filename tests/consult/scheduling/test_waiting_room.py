"""The waiting room end to end over the real ASGI app and a real Redis channel layer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from config.asgi import application
from consult.scheduling import services, waiting
from consult.scheduling.availability import align_up
from consult.scheduling.models import Appointment, AvailabilityException, WaitingEntry
from tests.consult.scheduling.conftest import CTX
from tests.factories import UserFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ORIGIN = (b"origin", b"http://testserver")


def _soon_appointment(clinic) -> Appointment:  # type: ignore[no-untyped-def]
    """An appointment starting in the next half hour (an extra session makes room)."""
    now = timezone.now()
    AvailabilityException.objects.create(
        practitioner=clinic.cardiologist,
        kind="extra",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
    )
    return services.appointment_book(
        actor=clinic.coordinator,
        patient_id=clinic.patients[0].pk,
        consultation_type=clinic.video,
        practitioner_ids=[clinic.cardiologist.pk],
        starts_at=align_up(now + timedelta(minutes=1), timedelta(minutes=15)),
        time_zone="Europe/London",
        reason="",
        ctx=CTX,
    )


def _patient_cookie(clinic, appointment) -> bytes:  # type: ignore[no-untyped-def]
    path, _ = waiting.patient_link_issue(
        actor=clinic.coordinator, appointment_id=appointment.pk, ctx=CTX
    )
    client = Client()
    response = client.get(path)
    assert response.status_code == 302
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def _staff_cookie(user) -> bytes:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _connect(path: str, cookie: bytes | None) -> WebsocketCommunicator:
    headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
    return WebsocketCommunicator(application, path, headers=headers)


async def test_clinician_sees_arrival_and_admits_patient(clinic, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """Arrival reaches the clinician live; admitting sends the patient the room URL."""
    appointment = await sync_to_async(_soon_appointment)(clinic)
    patient_cookie = await sync_to_async(_patient_cookie)(clinic, appointment)
    clinician = await _connect(
        "/ws/diary/", await sync_to_async(_staff_cookie)(clinic.cardiologist)
    )
    assert (await clinician.connect())[0]
    patient = await _connect("/ws/waiting/", patient_cookie)
    assert (await patient.connect())[0]

    arrival = await clinician.receive_json_from(timeout=5)
    assert arrival == {
        "type": "waiting_changed",
        "appointment": str(appointment.pk),
        "state": "waiting",
    }

    await clinician.send_json_to({"type": "admit", "appointment": str(appointment.pk)})
    admitted = await patient.receive_json_from(timeout=5)
    room = await sync_to_async(lambda: appointment.room.get_absolute_url())()
    assert admitted == {"type": "admitted", "room": room}
    entry = await sync_to_async(WaitingEntry.objects.select_related("appointment").get)(
        appointment=appointment
    )
    assert (entry.admitted_by_id, entry.appointment.status) == (
        clinic.cardiologist.pk,
        "checked-in",
    )
    await patient.disconnect()
    await clinician.disconnect()


async def test_patient_socket_without_a_link_is_refused(redis_layer) -> None:  # type: ignore[no-untyped-def]
    """No link in the session: closed with 4401."""
    patient = await _connect("/ws/waiting/", None)
    connected, code = await patient.connect()
    assert (connected, code) == (False, 4401)


async def test_diary_refuses_roles_without_a_diary(redis_layer) -> None:  # type: ignore[no-untyped-def]
    """A trainee's diary socket is closed with 4403."""
    trainee = await sync_to_async(UserFactory)(role="trainee")
    socket = await _connect("/ws/diary/", await sync_to_async(_staff_cookie)(trainee))
    connected, code = await socket.connect()
    assert (connected, code) == (False, 4403)


async def test_clinician_not_in_the_appointment_cannot_admit(
    clinic, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    """Another specialist's admit attempt gets not_found and changes nothing."""
    appointment = await sync_to_async(_soon_appointment)(clinic)
    patient = await _connect(
        "/ws/waiting/", await sync_to_async(_patient_cookie)(clinic, appointment)
    )
    assert (await patient.connect())[0]
    outsider = await _connect(
        "/ws/diary/", await sync_to_async(_staff_cookie)(clinic.radiologists[0])
    )
    assert (await outsider.connect())[0]
    await outsider.send_json_to({"type": "admit", "appointment": str(appointment.pk)})
    reply = await outsider.receive_json_from(timeout=5)
    entry = await sync_to_async(WaitingEntry.objects.get)(appointment=appointment)
    assert (reply["type"], reply["code"], entry.admitted_at) == (
        "error",
        "not_found",
        None,
    )
    await patient.disconnect()
    await outsider.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "malformed_json"),
        ('["a list"]', "malformed_message"),
        ('{"type": "launch"}', "unknown_type"),
        ('{"type": "admit", "appointment": 5}', "invalid_message"),
        ('{"type": "admit", "appointment": "x", "extra": 1}', "invalid_message"),
        ('{"type": "ping", "t0": NaN}', "malformed_json"),
        (
            '{"type": "ping", "t0": 1, "pad": "' + "x" * 70000 + '"}',
            "message_too_large",
        ),
    ],
)
async def test_bad_frames_get_errors_and_the_socket_stays_up(
    clinic, redis_layer, frame, code
) -> None:  # type: ignore[no-untyped-def]
    """Malformed/unknown/invalid/oversized frames get stable codes; ping works after."""
    socket = await _connect(
        "/ws/diary/", await sync_to_async(_staff_cookie)(clinic.cardiologist)
    )
    assert (await socket.connect())[0]
    await socket.send_to(text_data=frame)
    reply = await socket.receive_json_from(timeout=5)
    await socket.send_json_to({"type": "ping", "t0": 1})
    pong = await socket.receive_json_from(timeout=5)
    assert (reply["type"], reply["code"], pong["type"]) == ("error", code, "pong")
    await socket.disconnect()


async def test_flood_is_rate_limited(clinic, redis_layer) -> None:  # type: ignore[no-untyped-def]
    """Beyond the burst, messages get rate_limited instead of being handled."""
    socket = await _connect(
        "/ws/diary/", await sync_to_async(_staff_cookie)(clinic.cardiologist)
    )
    assert (await socket.connect())[0]
    for _ in range(60):
        await socket.send_json_to({"type": "ping", "t0": 1})
    replies = [
        (await socket.receive_json_from(timeout=5)).get("code") for _ in range(60)
    ]
    assert replies.count("rate_limited") >= 15
    await socket.disconnect()


def test_link_opened_in_a_second_browser_is_refused(clinic) -> None:  # type: ignore[no-untyped-def]
    """The first browser binds the link; another one gets 410 link_used."""
    appointment = _soon_appointment(clinic)
    path, _ = waiting.patient_link_issue(
        actor=clinic.coordinator, appointment_id=appointment.pk, ctx=CTX
    )
    assert Client().get(path).status_code == 302
    second = Client().get(path)
    assert (second.status_code, b"already used" in second.content) == (410, True)


def test_new_link_revokes_the_unused_old_one(clinic) -> None:  # type: ignore[no-untyped-def]
    """Issuing a fresh link makes an unused earlier link invalid."""
    appointment = _soon_appointment(clinic)
    old, _ = waiting.patient_link_issue(
        actor=clinic.coordinator, appointment_id=appointment.pk, ctx=CTX
    )
    waiting.patient_link_issue(
        actor=clinic.coordinator, appointment_id=appointment.pk, ctx=CTX
    )
    assert Client().get(old).status_code == 404


def test_cancelled_appointment_link_is_refused(clinic) -> None:  # type: ignore[no-untyped-def]
    """A link to a cancelled appointment says so (410 appointment_cancelled)."""
    appointment = _soon_appointment(clinic)
    path, _ = waiting.patient_link_issue(
        actor=clinic.coordinator, appointment_id=appointment.pk, ctx=CTX
    )
    services.appointment_cancel(
        actor=clinic.coordinator,
        appointment_id=appointment.pk,
        reason="duplicate",
        ctx=CTX,
    )
    response = Client().get(path)
    assert (response.status_code, b"cancelled" in response.content) == (410, True)
