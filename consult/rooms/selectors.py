"""Who may enter a room: its appointment's clinicians, invited members, or the admitted patient."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from consult.exceptions import NotFound
from consult.rooms.models import Room


@dataclass(frozen=True, slots=True)
class RoomPass:
    """Someone allowed into a room, and as whom."""

    room: Room
    user_id: int | None
    display_name: str
    is_host: bool
    is_patient: bool


def _room(room_id: object) -> Room:
    try:
        pk = uuid.UUID(str(room_id))
    except ValueError as exc:
        raise NotFound() from exc
    room = Room.objects.select_related("appointment").filter(pk=pk).first()
    if room is None:
        raise NotFound()
    return room


def room_pass_for_user(user: Any, room_id: object) -> RoomPass:
    """A staff member's pass: a participant of the room's appointment or its creator."""
    room = _room(room_id)
    if not user.is_authenticated or room.organisation_id != user.organisation_id:
        raise NotFound()
    in_appointment = (
        room.appointment_id is not None
        and room.appointment.participants.filter(Q(practitioner=user)).exists()
    )
    if not (in_appointment or room.created_by_id == user.pk):
        raise NotFound()
    return RoomPass(room, user.pk, user.get_full_name() or user.username, True, False)


def room_pass_for_patient(appointment_id: object, room_id: object) -> RoomPass:
    """The patient's pass: their session's appointment owns this room and they were admitted."""
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
    return RoomPass(room, None, "Patient", False, True)
