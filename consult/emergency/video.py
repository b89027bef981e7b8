"""Live video of an ambulance case: its room, and who may send or watch.

Each case gets a ``consult.rooms`` room of kind ``emergency`` when it opens;
the room ends when the patient is handed over, or the case is closed or
diverted (it no longer comes to this hospital). Media goes through the
room's socket and media worker like any room.

Who enters is decided by the case, never by the room id alone:

* the case's crew (paramedics of its crew) publish the phone's camera and
  microphone;
* hospital staff who may open the case's live waveforms on the command board
  (destination hospital, with a care relationship: the emergency and
  command-centre departments from the start, the receiving department on
  acceptance, activated team members) watch, and may talk back with audio:
  a remote stroke or trauma assessment needs to instruct the crew and the
  patient. They never send video: the ambulance's uplink and the crew's
  attention are spent on the patient.

Entering is a patient subscription, gated and audited by the records gate as
the board's ECG subscription is (``what: "video"``).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from consult.accounts.models import User
from consult.emergency.models import ACTIVE_STATUSES, EmergencyCase
from consult.emergency.selectors import (
    cases_for,
    crew_case_get,
    hospital_case_get,
    is_crew,
    is_hospital_staff,
)
from consult.events import publish_on_commit
from consult.exceptions import NotFound, PermissionDenied
from consult.records.access import patient_access, reachable_patients
from consult.records.context import AccessContext
from consult.records.models import AuditEvent
from consult.rooms.models import Room
from consult.rooms.selectors import KindRules, RoomPass, register_kind_rules
from consult.rooms.services import room_group

CREW_PUBLISHES = ("audio", "video")
WATCHER_PUBLISHES = ("audio",)


def video_room_create(*, case: EmergencyCase, actor: Any) -> Room:
    """A new video room for a case being opened (the caller links and saves it).

    The destination hospital owns the room; its title names the crew and the
    category, never the patient.
    """
    title = f"Ambulance {case.crew.call_sign} · {case.get_category_display()}"
    room = Room(
        organisation_id=case.destination_id,
        kind=Room.Kind.EMERGENCY,
        title=title[:120],
        created_by=actor,
    )
    room.full_clean()
    room.save()
    return room


def video_room_end(case: EmergencyCase) -> None:
    """End the case's room; after commit every socket in it closes with 4403."""
    if case.room_id is None:
        return
    ended = (
        Room.objects.filter(pk=case.room_id)
        .exclude(status=Room.Status.ENDED)
        .update(status=Room.Status.ENDED, ended_at=timezone.now())
    )
    if ended:
        # The same event a host's "end" sends: clients show "ended", not a retry.
        publish_on_commit(
            room_group(case.room_id),
            {
                "type": "room.host_action",
                "action": "end",
                "target": None,
                "by": "case",
            },
        )


def _label(user: Any) -> str:
    name = user.get_full_name() or user.username
    return f"{user.crew.call_sign} · {name}" if is_crew(user) else name


def video_pass_for_user(user: Any, room: Room, ctx: AccessContext) -> RoomPass:
    """The crew's or a watcher's pass into a case's room; audited subscription.

    Raises ``NotFound`` outside the case's reach or once it has finished,
    ``PermissionDenied``/``AccessBlocked`` from the records gate.
    """
    case_id = (
        EmergencyCase.objects.filter(room=room).values_list("pk", flat=True).first()
    )
    if case_id is None:
        raise NotFound()
    if is_crew(user):
        case, publish = crew_case_get(user, case_id), CREW_PUBLISHES
    elif is_hospital_staff(user):
        case, publish = hospital_case_get(user, case_id), WATCHER_PUBLISHES
    else:
        raise NotFound()
    if case.status not in ACTIVE_STATUSES:
        raise NotFound()
    with patient_access(
        actor=user,
        patient_id=case.patient_id,
        action=AuditEvent.Action.SUBSCRIBE,
        ctx=ctx,
    ) as grant:
        grant.object_type, grant.object_id = "emergency_case", str(case.pk)
        grant.extra.update({"what": "video", "room": str(room.pk)})
    return RoomPass(
        room_id=str(room.pk),
        participant=f"u{user.pk}",
        user_id=user.pk,
        display_name=_label(user),
        is_host=False,
        is_patient=False,
        patient_id=str(case.patient_id),
        publish=publish,
        emergency_case_id=str(case.pk),
    )


def video_pass_still_valid(room_pass: RoomPass) -> bool:
    """The case is still under way and still in the user's reach (no audit)."""
    user = (
        User.objects.select_related("organisation", "crew")
        .filter(pk=room_pass.user_id, is_active=True)
        .first()
    )
    if user is None or room_pass.emergency_case_id is None:
        return False
    try:
        patient_id = (
            cases_for(user)
            .filter(pk=room_pass.emergency_case_id, status__in=ACTIVE_STATUSES)
            .values_list("patient_id", flat=True)
            .first()
        )
    except PermissionDenied:
        return False
    return (
        patient_id is not None
        and reachable_patients(user).filter(pk=patient_id).exists()
    )


def register() -> None:
    """Hand the rooms app the rules of emergency rooms (from ``AppConfig.ready``)."""
    register_kind_rules(
        Room.Kind.EMERGENCY,
        KindRules(
            pass_for_user=video_pass_for_user, still_valid=video_pass_still_valid
        ),
    )
