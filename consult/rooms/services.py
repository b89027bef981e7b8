"""Writes on rooms: ad-hoc rooms, invitations, chat, host actions, quality reports."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from consult.accounts.models import Notification, Role, User
from consult.events import group_name, publish_on_commit
from consult.exceptions import ConsultError, NotFound, PermissionDenied
from consult.records import crypto
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AuditEvent
from consult.rooms.models import ChatMessage, QualityReport, Room, RoomMember
from consult.rooms.selectors import RoomPass, chat_aad, chat_json

ROOM_CREATOR_ROLES = frozenset({Role.SPECIALIST, Role.SURGEON, Role.NURSE})
MAX_INVITEES = 20


def room_group(room_id: object) -> str:
    """Everyone in a room (and the media worker's room notices)."""
    return group_name("room", room_id)


def participant_group(room_id: object, participant: str) -> str:
    """One participant's sockets in a room (host actions aimed at them)."""
    return group_name("room", room_id, "p", participant)


@transaction.atomic
def room_create_adhoc(
    *, actor: Any, title: str, invitee_ids: Sequence[int], ctx: AccessContext
) -> Room:
    """Open an ad-hoc MDT room and invite colleagues of the same organisation."""
    if actor.role not in ROOM_CREATOR_ROLES:
        raise PermissionDenied()
    if len(invitee_ids) > MAX_INVITEES:
        raise ConsultError("Too many invitees.", code="too_many_invitees")
    invitees = list(
        User.objects.filter(
            pk__in=list(invitee_ids),
            organisation_id=actor.organisation_id,
            is_active=True,
        ).exclude(pk=actor.pk)
    )
    if len(invitees) != len(set(invitee_ids) - {actor.pk}):
        raise NotFound("Someone invited is not in your organisation.")
    room = Room(
        organisation_id=actor.organisation_id,
        kind=Room.Kind.MDT if invitees else Room.Kind.AD_HOC,
        title=title,
        created_by=actor,
    )
    room.full_clean()
    room.save()
    RoomMember.objects.create(
        room=room, user=actor, role=RoomMember.Role.HOST, invited_by=actor
    )
    _invite(room, invitees, by=actor)
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        ctx=ctx,
        object_type="room",
        object_id=str(room.pk),
        extra={"invitees": [u.pk for u in invitees]},
    )
    return room


def _invite(room: Room, users: Sequence[User], *, by: Any) -> None:
    for user in users:
        RoomMember.objects.update_or_create(
            room=room, user=user, defaults={"removed_at": None, "invited_by": by}
        )
        Notification.objects.create(
            user=user,
            kind=Notification.Kind.APPOINTMENT,
            title=f"{by.get_full_name() or by.username} invited you to “{room.title}”",
            url=room.get_absolute_url(),
        )


@transaction.atomic
def room_invite(*, room_pass: RoomPass, user_ids: Sequence[int]) -> None:
    """A host invites more colleagues into the room."""
    if not room_pass.is_host:
        raise PermissionDenied("Only a host can invite.")
    room = Room.objects.select_for_update().get(pk=room_pass.room_id)
    users = list(
        User.objects.filter(pk__in=list(user_ids), organisation_id=room.organisation_id)
    )
    if len(users) != len(set(user_ids)):
        raise NotFound("Someone invited is not in your organisation.")
    _invite(room, users, by=User.objects.get(pk=room_pass.user_id))


def chat_post(
    *, room_pass: RoomPass, client_id: uuid.UUID, body: str, ctx: AccessContext
) -> tuple[dict[str, Any], bool]:
    """Store a chat line once (a resend with the same client id is a no-op).

    Returns its wire form and whether it is new. The room row lock numbers
    lines without gaps; the broadcast goes out after commit.
    """
    existing = ChatMessage.objects.filter(
        room_id=room_pass.room_id, sender_key=room_pass.participant, client_id=client_id
    ).first()
    if existing is not None:
        return chat_json(existing), False
    try:
        with transaction.atomic():
            room = Room.objects.select_for_update().get(pk=room_pass.room_id)
            if room.status == Room.Status.ENDED:
                raise ConsultError("The room has ended.", code="room_ended")
            last = (
                ChatMessage.objects.filter(room=room).aggregate(m=Max("seq"))["m"] or 0
            )
            row = ChatMessage(
                room=room,
                seq=last + 1,
                sender_user_id=room_pass.user_id,
                sender_key=room_pass.participant,
                sender_label=room_pass.display_name,
                client_id=client_id,
            )
            row.body_ciphertext = crypto.encrypt(body, aad=chat_aad(row))
            row.save()
            audit_event_record(
                actor=_actor(room_pass),
                action=AuditEvent.Action.CREATE,
                ctx=ctx,
                object_type="chat_message",
                object_id=f"{room.pk}:{row.seq}",
                patient_id=uuid.UUID(room_pass.patient_id)
                if room_pass.patient_id
                else None,
                explained=True,
                explanation="room",
            )
            wire = chat_json(row)
            publish_on_commit(
                room_group(room.pk), {"type": "room.chat", "message": wire}
            )
            return wire, True
    except IntegrityError:
        # The same line raced in through a second socket: it is stored once.
        row = ChatMessage.objects.get(
            room_id=room_pass.room_id,
            sender_key=room_pass.participant,
            client_id=client_id,
        )
        return chat_json(row), False


def _actor(room_pass: RoomPass) -> Any:
    return (
        User.objects.filter(pk=room_pass.user_id).first() if room_pass.user_id else None
    )


HOST_ACTIONS = ("mute", "remove", "lock", "unlock", "end")


@transaction.atomic
def room_host_action(
    *, room_pass: RoomPass, action: str, target: str | None, ctx: AccessContext
) -> dict[str, Any]:
    """Mute or remove a participant, lock, unlock or end the room (hosts only)."""
    if not room_pass.is_host:
        raise PermissionDenied("Only a host can do that.")
    room = Room.objects.select_for_update().get(pk=room_pass.room_id)
    event: dict[str, Any] = {
        "type": "room.host_action",
        "action": action,
        "by": room_pass.participant,
    }
    if action in ("mute", "remove"):
        if not target or target == room_pass.participant:
            raise ConsultError("Choose another participant.", code="invalid_target")
        event["target"] = target
        if action == "remove" and target.startswith("u") and target[1:].isdigit():
            RoomMember.objects.update_or_create(
                room=room,
                user_id=int(target[1:]),
                defaults={"removed_at": timezone.now()},
            )
    elif action in ("lock", "unlock"):
        room.status = Room.Status.LOCKED if action == "lock" else Room.Status.OPEN
        room.save(update_fields=["status"])
    elif action == "end":
        room.status, room.ended_at = Room.Status.ENDED, timezone.now()
        room.save(update_fields=["status", "ended_at"])
    else:
        raise ConsultError("Unknown host action.", code="invalid_action")
    audit_event_record(
        actor=_actor(room_pass),
        action=AuditEvent.Action.UPDATE,
        ctx=ctx,
        object_type="room",
        object_id=str(room.pk),
        extra={"op": action, "target": target or ""},
    )
    publish_on_commit(room_group(room.pk), event)
    return event


QUALITY_FIELDS = ("bitrate_kbps", "fps", "loss_pct", "jitter_ms", "rtt_ms", "g2g_ms")
# Latency histogram bucket edges in ms (the report's chart).
LATENCY_EDGES = (25, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1000, 2000)


@transaction.atomic
def quality_record(
    *, room_pass: RoomPass, session: uuid.UUID, sample: dict[str, Any]
) -> None:
    """Fold one quality sample (every few seconds) into the session's report."""
    report, _ = QualityReport.objects.select_for_update().get_or_create(
        room_id=room_pass.room_id,
        session=session,
        defaults={
            "participant": room_pass.participant,
            "label": room_pass.display_name,
        },
    )
    data = report.report or {
        "samples": 0,
        "series": [],
        "latency_hist": [0] * (len(LATENCY_EDGES) + 1),
        "freezes": 0,
    }
    data["samples"] += 1
    point = {"t": timezone.now().isoformat(timespec="seconds")} | {
        k: sample.get(k) for k in QUALITY_FIELDS if sample.get(k) is not None
    }
    # Keep the last hour of 2-second points at most.
    data["series"] = (data["series"] + [point])[-1800:]
    for value in sample.get("g2g_samples", [])[:120]:
        index = next(
            (i for i, edge in enumerate(LATENCY_EDGES) if value <= edge),
            len(LATENCY_EDGES),
        )
        data["latency_hist"][index] += 1
    if sample.get("frozen"):
        data["freezes"] += 1
    report.report, report.updated_at = data, timezone.now()
    report.save(update_fields=["report", "updated_at"])
