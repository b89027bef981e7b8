"""Reads for mentored operations, scoped by the acting user's organisation and role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from consult.accounts.models import Role
from consult.exceptions import NotFound
from surgery_guidance.models import AnnotationEvent, Operation, Question, Recording

#: Who may watch a consented broadcast and use the training library.
VIEWER_ROLES = frozenset({Role.TRAINEE, Role.SURGEON, Role.SPECIALIST, Role.NURSE})
MAX_BACKFILL = 500


@dataclass(frozen=True, slots=True)
class OperationPass:
    """Someone's part in an operation (JSON-safe; crosses to consumers).

    ``author`` is the telestration author id (the same string as the room
    participant id, ``u<user pk>``), so an annotation names its room member.
    """

    operation_id: str
    room_id: str
    user_id: int
    author: str
    display_name: str
    is_surgeon: bool
    is_mentor: bool
    is_moderator: bool

    @property
    def is_staff(self) -> bool:
        """In the theatre or mentoring: sees annotations and the question queue."""
        return self.is_surgeon or self.is_mentor or self.is_moderator

    @property
    def is_viewer(self) -> bool:
        """Watches the broadcast only: view-only media, may ask questions."""
        return not self.is_staff

    @property
    def role(self) -> str:
        if self.is_surgeon:
            return "surgeon"
        if self.is_mentor:
            return "mentor"
        return "moderator" if self.is_moderator else "viewer"


def parse_operation_id(operation_id: object) -> uuid.UUID:
    """An operation id from a URL or message, or ``NotFound``."""
    return _parse(operation_id)


def _parse(operation_id: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(operation_id))
    except ValueError as exc:
        raise NotFound() from exc


def _staff_q(user: Any) -> Q:
    return Q(surgeon=user) | Q(mentors=user) | Q(moderator=user)


def _broadcast_q() -> Q:
    return Q(broadcast=True, consent_recorded_at__isnull=False)


def operation_pass_for_user(user: Any, operation_id: object) -> OperationPass:
    """The user's part in the operation, or ``NotFound`` when they have none.

    Staff (surgeon, mentors, moderator) always; other clinicians and trainees
    of the same organisation only while the operation is broadcast with the
    patient's recorded consent.
    """
    if not user.is_authenticated:
        raise NotFound()
    operation = (
        Operation.objects.filter(
            pk=_parse(operation_id), organisation_id=user.organisation_id
        )
        .select_related("room")
        .first()
    )
    if operation is None:
        raise NotFound()
    is_surgeon = operation.surgeon_id == user.pk
    is_mentor = operation.mentors.filter(pk=user.pk).exists()
    is_moderator = operation.moderator_id == user.pk or (
        operation.moderator_id is None and is_surgeon
    )
    staff = is_surgeon or is_mentor or is_moderator
    if not staff and not (
        user.role in VIEWER_ROLES and operation.broadcast and operation.consent_recorded
    ):
        raise NotFound()
    return OperationPass(
        operation_id=str(operation.pk),
        room_id=str(operation.room_id),
        user_id=user.pk,
        author=f"u{user.pk}",
        display_name=user.get_full_name() or user.username,
        is_surgeon=is_surgeon,
        is_mentor=is_mentor,
        is_moderator=is_moderator,
    )


def operation_for(op_pass: OperationPass) -> Operation:
    """The operation row behind a pass."""
    return Operation.objects.select_related("surgeon", "room").get(
        pk=op_pass.operation_id
    )


def operations_for(user: Any) -> QuerySet[Operation]:
    """Operations the user takes part in, and broadcasts they may watch."""
    if not user.is_authenticated:
        return Operation.objects.none()
    visible = _staff_q(user)
    if user.role in VIEWER_ROLES:
        visible |= _broadcast_q()
    return (
        Operation.objects.filter(visible, organisation_id=user.organisation_id)
        .select_related("surgeon")
        .distinct()
        .order_by("scheduled_start")
    )


def operations_upcoming(user: Any) -> list[Operation]:
    """Live first, then scheduled from a day ago on (the list page)."""
    since = timezone.now() - timezone.timedelta(days=1)
    rows = list(
        operations_for(user)
        .exclude(status=Operation.Status.ENDED)
        .filter(Q(status=Operation.Status.LIVE) | Q(scheduled_start__gte=since))
    )
    rows.sort(key=lambda o: (o.status != Operation.Status.LIVE, o.scheduled_start))
    return rows


def annotation_events_after(
    op_pass: OperationPass, *, after_seq: int, limit: int = MAX_BACKFILL
) -> list[dict[str, Any]]:
    """Annotation operations with ``seq > after_seq``, oldest first (staff only)."""
    if not op_pass.is_staff:
        raise NotFound()
    rows = AnnotationEvent.objects.filter(
        operation_id=op_pass.operation_id, seq__gt=after_seq
    ).order_by("seq")[:limit]
    return [{"seq": row.seq, "op": row.op} for row in rows]


def annotation_snapshot(op_pass: OperationPass) -> dict[str, Any]:
    """``{seq, state}``: the folded annotation state and the last ``seq`` in it."""
    if not op_pass.is_staff:
        raise NotFound()
    row = (
        Operation.objects.filter(pk=op_pass.operation_id)
        .values("annotation_seq", "annotation_state")
        .get()
    )
    return {"seq": row["annotation_seq"], "state": row["annotation_state"] or {}}


def staff_operation_ids(user: Any, operation_ids: list[Any]) -> set[Any]:
    """Which of ``operation_ids`` the user operates, mentors or moderates."""
    return set(
        Operation.objects.filter(_staff_q(user), pk__in=operation_ids).values_list(
            "pk", flat=True
        )
    )


def question_json(row: Question, *, asker_name: str | None = None) -> dict[str, Any]:
    """A question as sockets and pages show it; ``asker_name`` for staff only."""
    data: dict[str, Any] = {
        "id": str(row.pk),
        "client_id": str(row.client_id),
        "body": row.body,
        "status": row.status,
        "asked_at": row.created_at.isoformat(),
    }
    if asker_name is not None:
        data["asked_by"] = asker_name
    return data


def _asker_name(row: Question) -> str:
    user = row.asked_by
    return user.get_full_name() or user.username


def questions_for(op_pass: OperationPass) -> list[dict[str, Any]]:
    """Staff: every question (the moderator triages); a viewer: their own."""
    rows = Question.objects.filter(operation_id=op_pass.operation_id).select_related(
        "asked_by"
    )
    if op_pass.is_staff:
        visible = rows if op_pass.is_moderator else rows.exclude(status="pending")
        return [question_json(q, asker_name=_asker_name(q)) for q in visible]
    return [question_json(q) for q in rows.filter(asked_by_id=op_pass.user_id)]


def recordings_for(user: Any, *, procedure: str = "") -> QuerySet[Recording]:
    """The training library: recordings of the user's organisation they may see."""
    if not user.is_authenticated:
        return Recording.objects.none()
    visible = _staff_q(user)
    if user.role in VIEWER_ROLES:
        visible |= _broadcast_q()
    operations = Operation.objects.filter(
        visible, organisation_id=user.organisation_id
    ).values("pk")
    rows = Recording.objects.filter(operation__in=operations).select_related(
        "operation", "operation__surgeon"
    )
    if procedure:
        rows = rows.filter(procedure__iexact=procedure)
    return rows


def recording_for(user: Any, recording_id: object) -> Recording:
    """One recording the user may watch, or ``NotFound``."""
    row = recordings_for(user).filter(pk=_parse(recording_id)).first()
    if row is None:
        raise NotFound()
    return row


def procedures_for(user: Any) -> list[str]:
    """Distinct procedures in the user's library, for the filter."""
    return sorted(set(recordings_for(user).values_list("procedure", flat=True)))
