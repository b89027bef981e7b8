"""Who may enter a room, and as whom.

Clinicians of the room's appointment and the creator of an ad-hoc room are
hosts; invited colleagues are participants; the patient enters only with the
session their one-time link bound, once a clinician admitted them. Rooms of
a kind another app owns (an ambulance case's video) follow that app's rules,
registered with ``register_kind_rules``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from consult.exceptions import NotFound
from consult.records import crypto
from consult.records.context import AccessContext
from consult.rooms.models import ChatMessage, Room, RoomMember

PATIENT_KEY = "patient"


@dataclass(frozen=True, slots=True)
class RoomPass:
    """Someone allowed into a room, and as whom (JSON-safe, crosses to consumers).

    ``publish`` lists the media kinds this participant may send ("audio",
    "video"); ``emergency_case_id`` is set in an ambulance case's room.
    """

    room_id: str
    participant: str
    user_id: int | None
    display_name: str
    is_host: bool
    is_patient: bool
    patient_id: str | None
    publish: tuple[str, ...] = ("audio", "video")
    emergency_case_id: str | None = None

    @property
    def room(self) -> Room:
        """The room row (a query; for views only)."""
        return Room.objects.get(pk=self.room_id)


def _room(room_id: object) -> Room:
    try:
        pk = uuid.UUID(str(room_id))
    except ValueError as exc:
        raise NotFound() from exc
    room = Room.objects.select_related("appointment").filter(pk=pk).first()
    if room is None:
        raise NotFound()
    return room


def _patient_id(room: Room) -> str | None:
    return str(room.appointment.patient_id) if room.appointment_id else None


@dataclass(frozen=True, slots=True)
class KindRules:
    """How the app that owns a kind of room admits people to it.

    ``pass_for_user(user, room, ctx)`` returns a pass or raises a
    ``ConsultError`` (audited by the owner as it sees fit); ``still_valid``
    re-checks a pass while its socket is open (cheap: no audit).
    """

    pass_for_user: Callable[[Any, Room, AccessContext], RoomPass]
    still_valid: Callable[[RoomPass], bool]


# Registered from the owning app's ``AppConfig.ready`` so that rooms never
# imports the apps built on it.
_KIND_RULES: dict[str, KindRules] = {}


def register_kind_rules(kind: str, rules: KindRules) -> None:
    """Let another app decide who enters its rooms of ``kind``."""
    _KIND_RULES[kind] = rules


def room_pass_for_user(
    user: Any, room_id: object, *, ctx: AccessContext | None = None
) -> RoomPass:
    """A staff member's pass, or ``NotFound`` for anyone not in the room."""
    room = _room(room_id)
    if not user.is_authenticated:
        raise NotFound()
    rules = _KIND_RULES.get(room.kind)
    if rules is not None:
        return rules.pass_for_user(user, room, ctx or AccessContext(channel="rooms"))
    if room.organisation_id != user.organisation_id:
        raise NotFound()
    in_appointment = (
        room.appointment_id is not None
        and room.appointment.participants.filter(practitioner=user).exists()
    )
    member = RoomMember.objects.filter(
        room=room, user=user, removed_at__isnull=True
    ).first()
    is_host = (
        in_appointment
        or room.created_by_id == user.pk
        or (member is not None and member.role == RoomMember.Role.HOST)
    )
    if not (is_host or member is not None):
        raise NotFound()
    return RoomPass(
        room_id=str(room.pk),
        participant=f"u{user.pk}",
        user_id=user.pk,
        display_name=user.get_full_name() or user.username,
        is_host=is_host,
        is_patient=False,
        patient_id=_patient_id(room),
    )


def room_pass_for_patient(appointment_id: object, room_id: object) -> RoomPass:
    """Patient pass: their session's appointment owns the room; they were admitted."""
    room = _room(room_id)
    waiting = (
        getattr(room.appointment, "waiting", None) if room.appointment_id else None
    )
    if (
        str(room.appointment_id) != str(appointment_id)
        or waiting is None
        or not waiting.admitted_at
    ):
        raise NotFound()
    return RoomPass(
        room_id=str(room.pk),
        participant=PATIENT_KEY,
        user_id=None,
        display_name="Patient",
        is_host=False,
        is_patient=True,
        patient_id=_patient_id(room),
    )


def room_pass_still_valid(room_pass: RoomPass) -> bool:
    """Re-check a pass: the room is not ended and the member was not removed."""
    room = Room.objects.filter(pk=room_pass.room_id).values("status", "kind").first()
    if room is None or room["status"] == Room.Status.ENDED:
        return False
    rules = _KIND_RULES.get(room["kind"])
    if rules is not None:
        return rules.still_valid(room_pass)
    if room_pass.user_id is None:
        return True
    return not RoomMember.objects.filter(
        room_id=room_pass.room_id, user_id=room_pass.user_id, removed_at__isnull=False
    ).exists()


def chat_json(row: ChatMessage) -> dict[str, Any]:
    """The wire form of a chat line (decrypted)."""
    return {
        "seq": row.seq,
        "client_id": str(row.client_id),
        "sender": row.sender_key,
        "label": row.sender_label,
        "body": crypto.decrypt(row.body_ciphertext, aad=chat_aad(row)),
        "at": row.created_at.isoformat(),
    }


def chat_aad(row: ChatMessage) -> str:
    """Associated data binding a chat ciphertext to its room and client id."""
    return f"rooms.chat:{row.room_id}:{row.sender_key}:{row.client_id}"


def chat_since(
    room_pass: RoomPass, *, after_seq: int, limit: int = 200
) -> list[dict[str, Any]]:
    """Chat lines after ``after_seq``, oldest first, decrypted."""
    rows = ChatMessage.objects.filter(
        room_id=room_pass.room_id, seq__gt=after_seq
    ).order_by("seq")[:limit]
    return [chat_json(row) for row in rows]


def rooms_for(user: Any) -> list[Room]:
    """Open rooms the user made, was invited to, or is a clinician of; newest first."""
    invited = RoomMember.objects.filter(user=user, removed_at__isnull=True).values(
        "room_id"
    )
    reach = (
        Q(created_by=user)
        | Q(pk__in=invited)
        | Q(appointment__participants__practitioner=user)
    )
    return list(
        Room.objects.filter(reach, organisation_id=user.organisation_id)
        .exclude(status=Room.Status.ENDED)
        # An ambulance's video belongs to the crew page and the command board.
        .exclude(kind=Room.Kind.EMERGENCY)
        .select_related("appointment__consultation_type")
        .distinct()[:50]
    )
