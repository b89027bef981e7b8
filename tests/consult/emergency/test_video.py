"""An ambulance case's video room: who may send, who may watch, when it ends."""

from __future__ import annotations

import pytest

from consult.emergency import services
from consult.emergency.models import EmergencyCase
from consult.emergency.selectors import summary_of
from consult.exceptions import NotFound
from consult.records.models import AuditEvent
from consult.rooms import selectors as room_selectors
from consult.rooms.models import Room
from tests.consult.emergency.conftest import CTX

pytestmark = pytest.mark.django_db


def _pass(user, case: EmergencyCase):  # type: ignore[no-untyped-def]
    return room_selectors.room_pass_for_user(user, case.room_id, ctx=CTX)


def test_opening_a_case_opens_its_video_room(world) -> None:  # type: ignore[no-untyped-def]
    """The hospital owns the room, of kind emergency; the summary names it."""
    case = world.open_case()
    room = Room.objects.get(pk=case.room_id)
    summary = summary_of(case.pk)
    assert (room.kind, room.organisation_id, room.status, summary["video_room"]) == (
        Room.Kind.EMERGENCY,
        world.hospital.pk,
        Room.Status.OPEN,
        str(room.pk),
    )


def test_the_room_title_names_no_patient(world) -> None:  # type: ignore[no-untyped-def]
    """The title carries the crew's call sign and the category only."""
    case = world.open_case()
    assert Room.objects.get(pk=case.room_id).title == (
        f"Ambulance {world.crew.call_sign} · STEMI"
    )


def test_crew_may_send_camera_and_microphone(world) -> None:  # type: ignore[no-untyped-def]
    """A paramedic of the case's crew gets a pass that publishes audio and video."""
    case = world.open_case()
    room_pass = _pass(world.partner, case)
    assert (room_pass.publish, room_pass.emergency_case_id, room_pass.is_host) == (
        ("audio", "video"),
        str(case.pk),
        False,
    )


def test_receiving_operator_watches_and_may_talk_back(world) -> None:  # type: ignore[no-untyped-def]
    """The emergency department's operator may send audio, never video."""
    case = world.open_case()
    assert _pass(world.operator, case).publish == ("audio",)


def test_entering_is_an_audited_video_subscription(world) -> None:  # type: ignore[no-untyped-def]
    """A subscribe event names the case and says what was watched."""
    case = world.open_case()
    _pass(world.operator, case)
    event = AuditEvent.objects.filter(
        actor_id=world.operator.pk, action=AuditEvent.Action.SUBSCRIBE
    ).latest("seq")
    assert (event.object_type, event.object_id, event.patient_id, event.extra) == (
        "emergency_case",
        str(case.pk),
        case.patient_id,
        {"what": "video", "room": str(case.room_id)},
    )


@pytest.mark.parametrize(
    "who", ["other_hospital_operator", "other_crew_medic", "trainee", "cardiologist"]
)
def test_anyone_without_the_case_is_refused(world, who: str) -> None:  # type: ignore[no-untyped-def]
    """Other hospitals and crews, trainees, departments not yet receiving: not found."""
    case = world.open_case()
    with pytest.raises(NotFound):
        _pass(getattr(world, who), case)


def test_the_receiving_department_may_watch_once_it_accepts(world) -> None:  # type: ignore[no-untyped-def]
    """Acceptance into cardiology gives its cardiologist the picture."""
    case = world.open_case()
    services.case_accept(
        actor=world.operator,
        case_id=case.pk,
        department_id=world.cardiology.pk,
        bay="Cath 1",
        ctx=CTX,
    )
    assert _pass(world.cardiologist, case).publish == ("audio",)


def test_handover_ends_the_room(world) -> None:  # type: ignore[no-untyped-def]
    """After handover the room is ended and nobody enters any more."""
    case = world.open_case()
    services.case_arrive(actor=world.paramedic, case_id=case.pk, ctx=CTX)
    services.case_handover(actor=world.operator, case_id=case.pk, ctx=CTX)
    room = Room.objects.get(pk=case.room_id)
    assert (room.status, room.ended_at is not None) == (Room.Status.ENDED, True)
    with pytest.raises(NotFound):
        _pass(world.operator, case)


def test_closing_the_case_ends_the_room(world) -> None:  # type: ignore[no-untyped-def]
    """A case the crew closes (not conveyed) takes its video with it."""
    case = world.open_case()
    services.case_close(
        actor=world.paramedic, case_id=case.pk, reason="not_conveyed", ctx=CTX
    )
    assert Room.objects.get(pk=case.room_id).status == Room.Status.ENDED


def test_diverting_ends_the_room(world) -> None:  # type: ignore[no-untyped-def]
    """A diverted patient goes elsewhere: this hospital stops watching."""
    case = world.open_case()
    services.case_divert(
        actor=world.operator, case_id=case.pk, reason="no_capacity", ctx=CTX
    )
    assert Room.objects.get(pk=case.room_id).status == Room.Status.ENDED


def test_a_pass_stays_valid_while_the_case_runs(world) -> None:  # type: ignore[no-untyped-def]
    """The per-message re-check keeps a watcher with a care relationship in."""
    case = world.open_case()
    room_pass = _pass(world.operator, case)
    assert room_selectors.room_pass_still_valid(room_pass)


def test_a_pass_lapses_when_the_care_relationship_does(world) -> None:  # type: ignore[no-untyped-def]
    """An operator moved out of the emergency department loses the picture."""
    case = world.open_case()
    room_pass = _pass(world.operator, case)
    world.operator.department = world.cardiology
    world.operator.save(update_fields=["department"])
    assert not room_selectors.room_pass_still_valid(room_pass)


def test_emergency_rooms_stay_off_the_rooms_list(world) -> None:  # type: ignore[no-untyped-def]
    """The crew who created the room does not find it among their rooms."""
    world.open_case()
    assert room_selectors.rooms_for(world.paramedic) == []


def test_the_room_page_sends_the_crew_to_its_phone_page(world, client) -> None:  # type: ignore[no-untyped-def]
    """/rooms/<id>/ of a case's room redirects the crew to the case's crew page."""
    case = world.open_case()
    client.force_login(world.paramedic)
    response = client.get(f"/rooms/{case.room_id}/")
    assert (response.status_code, response["Location"]) == (
        302,
        f"/emergency/crew/{case.pk}/",
    )


def test_the_room_page_sends_a_watcher_to_the_board(world, client) -> None:  # type: ignore[no-untyped-def]
    """The operator lands on the command board with the case open."""
    case = world.open_case()
    client.force_login(world.operator)
    response = client.get(f"/rooms/{case.room_id}/")
    assert (response.status_code, response["Location"]) == (
        302,
        f"/emergency/board/?case={case.pk}",
    )


def test_the_migration_gives_running_cases_a_room(world) -> None:  # type: ignore[no-untyped-def]
    """Cases under way before video existed get a room; finished ones do not."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("consult.emergency.migrations.0002_case_video_room")
    running, finished = world.open_case(), world.open_case()
    services.case_close(
        actor=world.paramedic, case_id=finished.pk, reason="duplicate", ctx=CTX
    )
    EmergencyCase.objects.filter(pk__in=[running.pk, finished.pk]).update(room=None)
    migration.rooms_for_active_cases(apps, None)
    running.refresh_from_db()
    finished.refresh_from_db()
    assert (running.room.kind, running.room.organisation_id, finished.room_id) == (
        Room.Kind.EMERGENCY,
        world.hospital.pk,
        None,
    )
