"""Writes for mentored operations: scheduling, consent, annotations, questions, end.

Every fan-out goes through ``publish_on_commit``. Annotation operations are
serialised per operation by a row lock, numbered (``seq``) and folded into a
snapshot of the annotation state kept on the operation, so a late joiner and
the media worker get the state in one message while the log stays replayable.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from consult.accounts.models import Notification, Role, User
from consult.events import group_name, publish_on_commit
from consult.exceptions import ConsultError, NotFound, PermissionDenied
from consult.records.access import patient_access
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AuditEvent
from consult.records.phi import unseal
from consult.rooms.models import Room, RoomMember
from surgery_guidance.models import (
    MAX_QUESTION_CHARS,
    AnnotationEvent,
    Operation,
    Question,
    Recording,
    new_broadcast_token,
)
from surgery_guidance.selectors import OperationPass, question_json
from surgery_guidance.telestration import (
    Annotation,
    AnnotationError,
    AnnotationState,
    parse_op,
)
from surgery_guidance.telestration.schema import FADE_OUT_S

ORGANISER_ROLES = frozenset({Role.SURGEON, Role.ADMINISTRATOR, Role.NURSE})
MENTOR_ROLES = frozenset({Role.SURGEON, Role.SPECIALIST})
MAX_MENTORS = 8
#: Unpinned marks leave the snapshot this long after they faded on the
#: mentor's clock: a browser clock that runs behind the server's must not
#: drop a fresh mark before the composite drew it (a faded mark is invisible
#: anyway, since the composite fades by media time).
PRUNE_GRACE_S = 120.0


# -- groups --------------------------------------------------------------------


def operation_group(operation_id: object) -> str:
    """Everyone connected to the operation: status, live broadcast."""
    return group_name("guidance", uuid.UUID(str(operation_id)).hex)


def staff_group(operation_id: object) -> str:
    """Surgeon, mentors and moderator: annotations and the question queue."""
    return group_name("guidance", uuid.UUID(str(operation_id)).hex, "staff")


def user_group(operation_id: object, user_id: int) -> str:
    """One person's sockets of the operation (their own questions)."""
    return group_name("guidance", uuid.UUID(str(operation_id)).hex, f"u{user_id}")


# -- operations ----------------------------------------------------------------


def _contains_identifier(text: str, operation: Operation) -> bool:
    """Whether ``text`` names the linked patient (given/family name or MRN)."""
    if operation.patient_id is None:
        return False
    phi = unseal(operation.patient)
    lowered = text.lower()
    names = [phi.family_name, phi.given_name, phi.mrn]
    return any(len(n) >= 3 and n.lower() in lowered for n in names if n)


def _check_no_identifiers(operation: Operation) -> None:
    for field in ("title", "procedure", "theatre"):
        if _contains_identifier(getattr(operation, field), operation):
            raise ConsultError(
                "Operation details are shown to trainees: no patient names or MRNs.",
                code="identifier_in_text",
                extra={"field": field},
            )


@transaction.atomic
def operation_schedule(
    *,
    actor: Any,
    title: str,
    procedure: str,
    scheduled_start: dt.datetime,
    surgeon_id: int,
    mentor_ids: Sequence[int],
    moderator_id: int | None = None,
    patient_id: object = None,
    theatre: str = "",
    vitals: str = Operation.Vitals.STABLE,
    ctx: AccessContext,
) -> Operation:
    """Schedule a mentored operation and its video room; notify the mentors."""
    if actor.role not in ORGANISER_ROLES:
        raise PermissionDenied()
    if len(mentor_ids) > MAX_MENTORS:
        raise ConsultError("Too many mentors.", code="too_many_mentors")
    people = {
        u.pk: u
        for u in User.objects.filter(
            pk__in=[surgeon_id, *mentor_ids, *([moderator_id] if moderator_id else [])],
            organisation_id=actor.organisation_id,
            is_active=True,
        )
    }
    surgeon = people.get(surgeon_id)
    if surgeon is None or surgeon.role != Role.SURGEON:
        raise NotFound("The operating surgeon is not a surgeon of your organisation.")
    mentors = [people[m] for m in dict.fromkeys(mentor_ids) if m in people]
    if len(mentors) != len(set(mentor_ids)) or any(
        m.role not in MENTOR_ROLES or m.pk == surgeon.pk for m in mentors
    ):
        raise NotFound("A mentor is not a surgeon or specialist of your organisation.")
    moderator = people.get(moderator_id) if moderator_id else None
    # As the form: a moderator is staff (annotations, every question, the room).
    if moderator_id and (moderator is None or moderator.role == Role.TRAINEE):
        raise NotFound("The moderator is not staff of your organisation.")
    room = Room(
        organisation_id=actor.organisation_id,
        kind=Room.Kind.OPERATION,
        title=f"Operation: {title}"[:120],
        created_by=surgeon,
    )
    room.full_clean()
    room.save()
    operation = Operation(
        organisation_id=actor.organisation_id,
        title=title,
        procedure=procedure,
        theatre=theatre,
        surgeon=surgeon,
        moderator=moderator,
        room=room,
        scheduled_start=scheduled_start,
        vitals=vitals,
        created_by=actor,
    )
    if patient_id:
        # Linking a patient is an access to their record: gated and audited.
        with patient_access(
            actor=actor, patient_id=patient_id, action=AuditEvent.Action.UPDATE, ctx=ctx
        ) as grant:
            operation.patient = grant.patient
    operation.full_clean()
    _check_no_identifiers(operation)
    operation.save()
    operation.mentors.set(mentors)
    RoomMember.objects.create(
        room=room, user=surgeon, role=RoomMember.Role.HOST, invited_by=actor
    )
    for person in [*mentors, *([moderator] if moderator else [])]:
        RoomMember.objects.get_or_create(
            room=room, user=person, defaults={"invited_by": actor}
        )
        Notification.objects.create(
            user=person,
            kind=Notification.Kind.APPOINTMENT,
            title=f"You are mentoring “{title}”",
            body=f"Starts {timezone.localtime(scheduled_start):%d %b %H:%M}.",
            url=operation.get_absolute_url(),
        )
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        ctx=ctx,
        object_type="operation",
        object_id=str(operation.pk),
        patient_id=operation.patient_id,
        extra={"mentors": [m.pk for m in mentors]},
    )
    return operation


@transaction.atomic
def consent_record(
    *, actor: Any, operation_id: object, broadcast: bool, ctx: AccessContext
) -> Operation:
    """Record the patient's consent to broadcast and turn the broadcast on or off.

    Only the operating surgeon or an administrator of the organisation; turning
    it on without consent on record is refused (``consent_required``).
    """
    operation = (
        Operation.objects.select_for_update()
        .filter(pk=operation_id, organisation_id=actor.organisation_id)
        .first()
    )
    if operation is None:
        raise NotFound()
    if operation.surgeon_id != actor.pk and actor.role != Role.ADMINISTRATOR:
        raise PermissionDenied("Only the operating surgeon records consent.")
    if operation.consent_recorded_at is None:
        operation.consent_recorded_at = timezone.now()
        operation.consent_recorded_by = actor
    if operation.broadcast and not broadcast:
        # The HLS URLs handed out for this broadcast die with it: a viewer
        # who kept one must not be served the next broadcast.
        operation.broadcast_token = new_broadcast_token()
    operation.broadcast = broadcast
    operation.full_clean()
    operation.save()
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        ctx=ctx,
        object_type="operation_consent",
        object_id=str(operation.pk),
        patient_id=operation.patient_id,
        extra={"broadcast": broadcast},
    )
    publish_on_commit(
        operation_group(operation.pk),
        {"type": "guidance.broadcast", "broadcast": broadcast},
    )
    return operation


def broadcast_require(op_pass: OperationPass) -> None:
    """Refuse a viewer when the operation is not (or no longer) broadcast."""
    operation = Operation.objects.filter(pk=op_pass.operation_id).first()
    if operation is None or not (operation.broadcast and operation.consent_recorded):
        raise ConsultError("This operation is not broadcast.", code="consent_required")


@transaction.atomic
def composite_started(
    *,
    op_pass: OperationPass,
    track: str,
    hls: str | None,
    clock_offset_ms: float | None = None,
) -> dict[str, Any]:
    """The media worker composites the theatre camera: the operation is live."""
    operation = Operation.objects.select_for_update().get(pk=op_pass.operation_id)
    if operation.status == Operation.Status.ENDED:
        raise ConsultError("The operation has ended.", code="operation_ended")
    first = operation.status != Operation.Status.LIVE
    operation.status = Operation.Status.LIVE
    operation.started_at = operation.started_at or timezone.now()
    operation.composite_track = track
    operation.hls_path = hls or ""
    operation.source_clock_offset_ms = clock_offset_ms
    operation.save(
        update_fields=[
            "status",
            "started_at",
            "composite_track",
            "hls_path",
            "source_clock_offset_ms",
        ]
    )
    live = live_json(operation)
    publish_on_commit(operation_group(operation.pk), {"type": "guidance.live", **live})
    if first:
        audit_event_record(
            actor=User.objects.get(pk=op_pass.user_id),
            action=AuditEvent.Action.UPDATE,
            ctx=AccessContext(channel="websocket"),
            object_type="operation_live",
            object_id=str(operation.pk),
            patient_id=operation.patient_id,
            extra={"broadcast": operation.broadcast},
        )
    return live


def live_json(operation: Operation) -> dict[str, Any]:
    """What a watcher needs to start: status, the composite track, the HLS URL."""
    from django.urls import reverse

    hls_url = ""
    if operation.hls_path and operation.broadcast:
        hls_url = reverse(
            "guidance:hls",
            kwargs={"token": operation.broadcast_token, "name": "index.m3u8"},
        )
    return {
        "status": operation.status,
        "track": operation.composite_track,
        "hls": hls_url,
        "clock_offset_ms": operation.source_clock_offset_ms,
    }


@transaction.atomic
def recording_save(*, op_pass: OperationPass, recording: dict[str, Any]) -> Recording:
    """Keep what the worker recorded (paths relative to its output root)."""
    operation = Operation.objects.get(pk=op_pass.operation_id)
    video, timeline = str(recording["video"]), str(recording["timeline"])
    for path in (video, timeline):
        if path.startswith("/") or ".." in path.split("/"):
            raise ConsultError("Bad recording path.", code="bad_recording")
    started_ms = recording.get("started_at_ms")
    started = (
        dt.datetime.fromtimestamp(started_ms / 1000, tz=dt.UTC)
        if isinstance(started_ms, int | float)
        else operation.started_at or timezone.now()
    )
    row, _ = Recording.objects.get_or_create(
        operation=operation,
        video_path=video,
        defaults={
            "procedure": operation.procedure,
            "timeline_path": timeline,
            "duration_s": float(recording.get("duration_s") or 0.0),
            "size_bytes": int(recording.get("bytes") or 0),
            "started_at": started,
        },
    )
    return row


@transaction.atomic
def operation_end(*, op_pass: OperationPass, ctx: AccessContext) -> Operation:
    """The surgeon ends the operation: broadcast over, the video room ended."""
    if not op_pass.is_surgeon:
        raise PermissionDenied("Only the operating surgeon ends the operation.")
    operation = Operation.objects.select_for_update().get(pk=op_pass.operation_id)
    if operation.status == Operation.Status.ENDED:
        return operation
    operation.status = Operation.Status.ENDED
    operation.ended_at = timezone.now()
    operation.save(update_fields=["status", "ended_at"])
    Room.objects.filter(pk=operation.room_id).update(
        status=Room.Status.ENDED, ended_at=operation.ended_at
    )
    audit_event_record(
        actor=User.objects.get(pk=op_pass.user_id),
        action=AuditEvent.Action.UPDATE,
        ctx=ctx,
        object_type="operation_end",
        object_id=str(operation.pk),
        patient_id=operation.patient_id,
    )
    from consult.rooms.services import room_group

    # Room sockets close like a host's "end"; guidance sockets show the end.
    publish_on_commit(
        room_group(operation.room_id),
        {
            "type": "room.host_action",
            "action": "end",
            "target": None,
            "by": op_pass.author,
        },
    )
    publish_on_commit(
        operation_group(operation.pk),
        {"type": "guidance.ended", "ended_at": operation.ended_at.isoformat()},
    )
    return operation


# -- annotations -----------------------------------------------------------------


def state_from_json(data: dict[str, Any] | None) -> AnnotationState:
    """The snapshot kept on the operation, as a telestration state."""
    if not data:
        return AnnotationState()
    annotations = {}
    for item in data.get("annotations", []):
        annotation = Annotation.from_dict(item)
        annotations[annotation.id] = annotation
    last_seq = {str(k): int(v) for k, v in data.get("last_seq", {}).items()}
    return AnnotationState(
        annotations=annotations, last_seq=last_seq, version=int(data.get("version", 0))
    )


def state_to_json(state: AnnotationState) -> dict[str, Any]:
    return {
        "annotations": [a.to_dict() for a in state.annotations.values()],
        "last_seq": dict(state.last_seq),
        "version": state.version,
    }


def _prune_faded(state: AnnotationState, now_ms: int) -> AnnotationState:
    """Drop unpinned marks long faded on the mentor's clock (keeps the set small)."""
    keep = {
        key: a
        for key, a in state.annotations.items()
        if a.pinned
        or a.created_at_ms + (a.fade_after + FADE_OUT_S + PRUNE_GRACE_S) * 1000 > now_ms
    }
    if len(keep) == len(state.annotations):
        return state
    return AnnotationState(
        annotations=keep, last_seq=state.last_seq, version=state.version
    )


@dataclass(frozen=True, slots=True)
class Applied:
    """An applied (or replayed) annotation operation."""

    seq: int
    author_seq: int
    replay: bool
    snapshot: dict[str, Any]


@transaction.atomic
def annotation_apply(*, op_pass: OperationPass, op: object) -> Applied:
    """Validate and apply one mentor's operation; idempotent per (author, seq).

    Refusals raise ``ConsultError`` with the telestration code (``out_of_order``
    tells the client to resend from its last acknowledged number) and change
    nothing.
    """
    if not op_pass.is_mentor:
        raise PermissionDenied("Only a mentor draws on the video.", code="not_mentor")
    try:
        parsed = parse_op(op)
    except AnnotationError as exc:
        raise ConsultError(str(exc), code=exc.code) from None
    if parsed.author != op_pass.author:
        raise ConsultError("Annotations are sent by their author.", code="not_owner")
    operation = Operation.objects.select_for_update().get(pk=op_pass.operation_id)
    if operation.status == Operation.Status.ENDED:
        raise ConsultError("The operation has ended.", code="operation_ended")
    state = state_from_json(operation.annotation_state)
    if parsed.seq <= state.last_seq.get(parsed.author, 0):
        done = AnnotationEvent.objects.filter(
            operation=operation, author_id=op_pass.user_id, author_seq=parsed.seq
        ).first()
        return Applied(
            seq=done.seq if done else 0,
            author_seq=parsed.seq,
            replay=True,
            snapshot=state_to_json(state),
        )
    try:
        new_state = state.apply(parsed)
    except AnnotationError as exc:
        raise ConsultError(str(exc), code=exc.code) from None
    new_state = _prune_faded(new_state, int(time.time() * 1000))
    operation.annotation_seq += 1
    operation.annotation_state = state_to_json(new_state)
    operation.save(update_fields=["annotation_seq", "annotation_state"])
    wire = parsed.to_dict()
    AnnotationEvent.objects.create(
        operation=operation,
        seq=operation.annotation_seq,
        author_id=op_pass.user_id,
        author_seq=parsed.seq,
        op=wire,
    )
    publish_on_commit(
        staff_group(operation.pk),
        {"type": "guidance.annotation", "seq": operation.annotation_seq, "op": wire},
    )
    return Applied(
        seq=operation.annotation_seq,
        author_seq=parsed.seq,
        replay=False,
        snapshot=operation.annotation_state,
    )


# -- questions ---------------------------------------------------------------------


@transaction.atomic
def question_ask(
    *, op_pass: OperationPass, client_id: uuid.UUID, body: str
) -> Question:
    """A viewer asks; a resend with the same ``client_id`` is a no-op."""
    if not op_pass.is_viewer:
        raise PermissionDenied("Questions come from the audience.", code="not_viewer")
    broadcast_require(op_pass)
    text = " ".join(body.split())
    if not text or len(text) > MAX_QUESTION_CHARS:
        raise ConsultError("A question is 1-500 characters.", code="bad_question")
    question, created = Question.objects.get_or_create(
        asked_by_id=op_pass.user_id,
        client_id=client_id,
        defaults={"operation_id": op_pass.operation_id, "body": text},
    )
    if str(question.operation_id) != op_pass.operation_id:
        raise ConsultError("That question id is taken.", code="bad_question")
    if created:
        wire = question_json(question, asker_name=op_pass.display_name)
        publish_on_commit(
            staff_group(op_pass.operation_id),
            {"type": "guidance.question", "question": wire},
        )
    return question


@transaction.atomic
def question_moderate(
    *, op_pass: OperationPass, question_id: uuid.UUID, approve: bool
) -> Question:
    """The moderator approves (mentors then see it) or declines a question."""
    if not op_pass.is_moderator:
        raise PermissionDenied("Only the moderator decides.", code="not_moderator")
    question = (
        Question.objects.select_for_update()
        .select_related("asked_by")
        .filter(pk=question_id, operation_id=op_pass.operation_id)
        .first()
    )
    if question is None:
        raise NotFound("No such question.")
    if question.status == Question.Status.PENDING:
        question.status = (
            Question.Status.APPROVED if approve else Question.Status.REJECTED
        )
        question.moderated_by_id = op_pass.user_id
        question.moderated_at = timezone.now()
        question.save(update_fields=["status", "moderated_by", "moderated_at"])
        asker = question.asked_by.get_full_name() or question.asked_by.username
        publish_on_commit(
            staff_group(op_pass.operation_id),
            {
                "type": "guidance.question",
                "question": question_json(question, asker_name=asker),
            },
        )
        publish_on_commit(
            user_group(op_pass.operation_id, question.asked_by_id),
            {"type": "guidance.question", "question": question_json(question)},
        )
    return question
