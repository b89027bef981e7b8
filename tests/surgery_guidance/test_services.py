"""Writes of the guidance app: scheduling, consent, annotations, questions, end."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError

from consult.accounts.models import Notification
from consult.exceptions import ConsultError, NotFound, PermissionDenied
from consult.records.models import AuditEvent
from consult.rooms.models import Room, RoomMember
from consult.rooms.services import room_group
from surgery_guidance import services
from surgery_guidance.models import AnnotationEvent, Operation, Question, Recording
from tests.factories import PatientFactory
from tests.surgery_guidance.conftest import (
    CTX,
    PATIENT_FAMILY,
    PATIENT_GIVEN,
    PATIENT_MRN,
    add_op,
    author_of,
    now_ms,
)

pytestmark = pytest.mark.django_db


def _nothing_scheduled() -> tuple[int, int, int, int]:
    return (
        Operation.objects.count(),
        Room.objects.count(),
        RoomMember.objects.count(),
        Notification.objects.count(),
    )


# -- operation_schedule ----------------------------------------------------------


def test_schedule_creates_the_room_with_the_surgeon_as_host(guidance) -> None:  # type: ignore[no-untyped-def]
    """The room is the organisation's MDT room; the surgeon hosts, staff take part."""
    operation = guidance.schedule()
    members = dict(
        RoomMember.objects.filter(room=operation.room).values_list("user_id", "role")
    )
    assert (operation.room.kind, operation.room.organisation_id, members) == (
        Room.Kind.OPERATION,
        guidance.hospital.pk,
        {
            guidance.surgeon.pk: RoomMember.Role.HOST,
            guidance.mentor.pk: RoomMember.Role.PARTICIPANT,
            guidance.specialist_mentor.pk: RoomMember.Role.PARTICIPANT,
            guidance.moderator.pk: RoomMember.Role.PARTICIPANT,
        },
    )


def test_schedule_notifies_mentors_and_moderator(guidance) -> None:  # type: ignore[no-untyped-def]
    """Each mentor and the moderator get one notification linking the operation."""
    operation = guidance.schedule()
    notified = sorted(
        Notification.objects.filter(url=operation.get_absolute_url()).values_list(
            "user_id", flat=True
        )
    )
    assert notified == sorted(
        [guidance.mentor.pk, guidance.specialist_mentor.pk, guidance.moderator.pk]
    )


def test_schedule_writes_an_audit_event(guidance) -> None:  # type: ignore[no-untyped-def]
    """A create event names the operation, the actor and the mentors."""
    operation = guidance.schedule()
    event = AuditEvent.objects.get(object_type="operation")
    assert (event.action, event.actor_id, event.object_id, event.extra) == (
        AuditEvent.Action.CREATE,
        guidance.surgeon.pk,
        str(operation.pk),
        {"mentors": [guidance.mentor.pk, guidance.specialist_mentor.pk]},
    )


@pytest.mark.parametrize("role_of", ["trainee", "specialist", "paramedic", "operator"])
def test_schedule_is_refused_to_other_roles(guidance, role_of) -> None:  # type: ignore[no-untyped-def]
    """Only surgeons, nurses/coordinators and administrators schedule."""
    with pytest.raises(PermissionDenied):
        guidance.schedule(actor=getattr(guidance, role_of))
    assert _nothing_scheduled() == (0, 0, 0, 0)


@pytest.mark.parametrize("role_of", ["nurse", "administrator"])
def test_coordinators_and_administrators_schedule(guidance, role_of) -> None:  # type: ignore[no-untyped-def]
    """A nurse or administrator schedules for a surgeon, who still hosts."""
    operation = guidance.schedule(actor=getattr(guidance, role_of))
    host = RoomMember.objects.get(room=operation.room, role=RoomMember.Role.HOST)
    assert (operation.created_by, host.user) == (
        getattr(guidance, role_of),
        guidance.surgeon,
    )


@pytest.mark.parametrize("mentor_of", ["nurse", "trainee", "surgeon", "administrator"])
def test_mentors_must_be_other_surgeons_or_specialists(guidance, mentor_of) -> None:  # type: ignore[no-untyped-def]
    """A nurse, a trainee, an administrator or the operating surgeon is no mentor."""
    with pytest.raises(NotFound):
        guidance.schedule(mentors=[getattr(guidance, mentor_of)])
    assert _nothing_scheduled() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"mentors_of": ["other_surgeon"]},
        {"surgeon_of": "other_surgeon"},
        {"moderator_of": "other_surgeon"},
    ],
    ids=["mentor", "surgeon", "moderator"],
)
def test_people_of_another_organisation_are_not_found(guidance, overrides) -> None:  # type: ignore[no-untyped-def]
    """Ids of another hospital's staff are refused as NotFound; nothing is created."""
    kwargs = {}
    if "mentors_of" in overrides:
        kwargs["mentors"] = [getattr(guidance, n) for n in overrides["mentors_of"]]
    if "surgeon_of" in overrides:
        kwargs["surgeon"] = getattr(guidance, overrides["surgeon_of"])
    if "moderator_of" in overrides:
        kwargs["moderator"] = getattr(guidance, overrides["moderator_of"])
    with pytest.raises(NotFound):
        guidance.schedule(**kwargs)
    assert _nothing_scheduled() == (0, 0, 0, 0)


def test_a_trainee_cannot_moderate(guidance) -> None:  # type: ignore[no-untyped-def]
    """As in the form: a trainee moderator (staff access) is refused; nothing made."""
    with pytest.raises(NotFound):
        guidance.schedule(moderator=guidance.trainee)
    assert _nothing_scheduled() == (0, 0, 0, 0)


def test_the_operating_surgeon_must_be_a_surgeon(guidance) -> None:  # type: ignore[no-untyped-def]
    """A specialist cannot be put down as the operating surgeon."""
    with pytest.raises(NotFound):
        guidance.schedule(
            actor=guidance.nurse, surgeon=guidance.specialist, mentors=[guidance.mentor]
        )
    assert _nothing_scheduled() == (0, 0, 0, 0)


def test_too_many_mentors_are_refused(guidance) -> None:  # type: ignore[no-untyped-def]
    """More than MAX_MENTORS mentor ids is too_many_mentors."""
    with pytest.raises(ConsultError) as caught:
        services.operation_schedule(
            actor=guidance.surgeon,
            title="Hernia repair",
            procedure="Hernia repair",
            scheduled_start=guidance.surgeon.date_joined,
            surgeon_id=guidance.surgeon.pk,
            mentor_ids=[guidance.mentor.pk] * (services.MAX_MENTORS + 1),
            ctx=CTX,
        )
    assert caught.value.code == "too_many_mentors"


def test_a_linked_patient_is_kept_for_access_only(guidance) -> None:  # type: ignore[no-untyped-def]
    """Linking a reachable patient stores the link and audits the access."""
    operation = guidance.schedule(patient=guidance.patient)
    touch = AuditEvent.objects.get(
        object_type="patient", patient_id=guidance.patient.pk
    )
    assert (operation.patient_id, touch.action, touch.outcome) == (
        guidance.patient.pk,
        AuditEvent.Action.UPDATE,
        AuditEvent.Outcome.ALLOWED,
    )


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("title", f"Cholecystectomy for {PATIENT_FAMILY}"),
        ("title", f"{PATIENT_GIVEN.upper()} gallbladder"),
        ("procedure", f"Appendicectomy {PATIENT_MRN.lower()}"),
        ("theatre", f"Theatre 2 ({PATIENT_MRN})"),
    ],
)
def test_identifiers_of_the_linked_patient_are_refused(guidance, field, text) -> None:  # type: ignore[no-untyped-def]
    """A name or MRN of the linked patient in trainee-visible text: nothing created."""
    with pytest.raises(ConsultError) as caught:
        guidance.schedule(patient=guidance.patient, **{field: text})
    assert (caught.value.code, caught.value.extra, _nothing_scheduled()) == (
        "identifier_in_text",
        {"field": field},
        (0, 0, 0, 0),
    )


def test_identifier_refusal_leaves_no_audit_of_a_creation(guidance) -> None:  # type: ignore[no-untyped-def]
    """The refused schedule rolls back its audit events with everything else."""
    with pytest.raises(ConsultError):
        guidance.schedule(patient=guidance.patient, title=f"{PATIENT_FAMILY} lap chole")
    assert not AuditEvent.objects.filter(object_type="operation").exists()


def test_a_patient_outside_reach_is_not_found(guidance) -> None:  # type: ignore[no-untyped-def]
    """A patient without a care relationship cannot be linked; nothing is created."""
    stranger = PatientFactory(organisation=guidance.hospital)
    with pytest.raises(NotFound):
        guidance.schedule(patient=stranger)
    assert _nothing_scheduled() == (0, 0, 0, 0)


# -- consent_record ---------------------------------------------------------------


def test_the_surgeon_records_consent_and_broadcasts(guidance) -> None:  # type: ignore[no-untyped-def]
    """Consent is stamped with who recorded it, and the broadcast is on."""
    operation = guidance.schedule()
    services.consent_record(
        actor=guidance.surgeon, operation_id=operation.pk, broadcast=True, ctx=CTX
    )
    operation.refresh_from_db()
    assert (
        operation.broadcast,
        operation.consent_recorded_at is not None,
        operation.consent_recorded_by,
    ) == (True, True, guidance.surgeon)


def test_an_administrator_may_record_consent(guidance) -> None:  # type: ignore[no-untyped-def]
    """An administrator of the organisation may record it for the surgeon."""
    operation = guidance.schedule()
    services.consent_record(
        actor=guidance.administrator, operation_id=operation.pk, broadcast=True, ctx=CTX
    )
    operation.refresh_from_db()
    assert (operation.broadcast, operation.consent_recorded_by) == (
        True,
        guidance.administrator,
    )


@pytest.mark.parametrize("role_of", ["mentor", "moderator", "trainee", "nurse"])
def test_consent_is_refused_to_anyone_else(guidance, role_of) -> None:  # type: ignore[no-untyped-def]
    """Mentors, the moderator and colleagues cannot record consent; nothing changes."""
    operation = guidance.schedule()
    with pytest.raises(PermissionDenied):
        services.consent_record(
            actor=getattr(guidance, role_of),
            operation_id=operation.pk,
            broadcast=True,
            ctx=CTX,
        )
    operation.refresh_from_db()
    assert (operation.broadcast, operation.consent_recorded_at) == (False, None)


def test_consent_for_another_organisations_operation_is_not_found(guidance) -> None:  # type: ignore[no-untyped-def]
    """Another hospital's surgeon gets NotFound."""
    operation = guidance.schedule()
    with pytest.raises(NotFound):
        services.consent_record(
            actor=guidance.other_surgeon,
            operation_id=operation.pk,
            broadcast=True,
            ctx=CTX,
        )


def test_a_broadcast_without_consent_is_invalid(guidance) -> None:  # type: ignore[no-untyped-def]
    """The model refuses broadcast=True without consent on record."""
    operation = guidance.schedule()
    operation.broadcast = True
    with pytest.raises(ValidationError) as caught:
        operation.full_clean()
    assert "broadcast" in caught.value.message_dict


def test_consent_is_audited(guidance) -> None:  # type: ignore[no-untyped-def]
    """Each change of the broadcast is an audited update naming the operation."""
    operation = guidance.schedule(patient=guidance.patient)
    services.consent_record(
        actor=guidance.surgeon, operation_id=operation.pk, broadcast=True, ctx=CTX
    )
    services.consent_record(
        actor=guidance.surgeon, operation_id=operation.pk, broadcast=False, ctx=CTX
    )
    events = AuditEvent.objects.filter(object_type="operation_consent")
    assert [(e.object_id, e.patient_id, e.extra) for e in events] == [
        (str(operation.pk), guidance.patient.pk, {"broadcast": True}),
        (str(operation.pk), guidance.patient.pk, {"broadcast": False}),
    ]


def test_consent_is_announced_to_the_operation_after_commit(
    guidance, published, committing
) -> None:  # type: ignore[no-untyped-def]
    """guidance.broadcast reaches the operation group only once committed."""
    operation = guidance.schedule()
    with committing():
        services.consent_record(
            actor=guidance.surgeon, operation_id=operation.pk, broadcast=True, ctx=CTX
        )
        before_commit = list(published)
    assert (before_commit, published) == (
        [],
        [
            (
                services.operation_group(operation.pk),
                {"type": "guidance.broadcast", "broadcast": True},
            )
        ],
    )


def test_withdrawing_the_broadcast_retires_its_hls_token(guidance) -> None:  # type: ignore[no-untyped-def]
    """A URL handed out for one broadcast does not come back with the next one."""
    operation = guidance.schedule(broadcast=True)
    first = operation.broadcast_token
    for broadcast in (False, True):
        services.consent_record(
            actor=guidance.surgeon,
            operation_id=operation.pk,
            broadcast=broadcast,
            ctx=CTX,
        )
    operation.refresh_from_db()
    assert (operation.broadcast, operation.broadcast_token != first) == (True, True)


# -- annotation_apply -----------------------------------------------------------------


def _state(operation: Operation) -> tuple[int, dict, int]:
    operation.refresh_from_db()
    return (
        operation.annotation_seq,
        operation.annotation_state,
        AnnotationEvent.objects.filter(operation=operation).count(),
    )


def test_a_mentor_annotates(guidance) -> None:  # type: ignore[no-untyped-def]
    """The first op is seq 1: logged, folded into the snapshot, acknowledged."""
    operation = guidance.schedule()
    author = author_of(guidance.mentor)
    applied = services.annotation_apply(
        op_pass=guidance.op_pass(guidance.mentor, operation), op=add_op(author, 1)
    )
    row = AnnotationEvent.objects.get(operation=operation)
    operation.refresh_from_db()
    assert (
        applied.seq,
        applied.replay,
        (row.seq, row.author_id, row.author_seq),
        [a["id"] for a in operation.annotation_state["annotations"]],
        operation.annotation_state["last_seq"],
    ) == (
        1,
        False,
        (1, guidance.mentor.pk, 1),
        [str(uuid.UUID(int=1))],
        {author: 1},
    )


def test_an_annotation_is_published_to_staff_after_commit(
    guidance, published, committing
) -> None:  # type: ignore[no-untyped-def]
    """guidance.annotation with the seq and the op goes to the staff group on commit."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.mentor, operation)
    with committing():
        services.annotation_apply(op_pass=op_pass, op=add_op(op_pass.author, 1))
        before_commit = list(published)
    [(group, event)] = published
    assert (before_commit, group, event["type"], event["seq"], event["op"]["seq"]) == (
        [],
        services.staff_group(operation.pk),
        "guidance.annotation",
        1,
        1,
    )


def test_two_mentors_share_one_sequence(guidance) -> None:  # type: ignore[no-untyped-def]
    """seq counts every op of the operation; author_seq counts each mentor's own."""
    operation = guidance.schedule()
    first = guidance.op_pass(guidance.mentor, operation)
    second = guidance.op_pass(guidance.specialist_mentor, operation)
    seqs = [
        services.annotation_apply(op_pass=first, op=add_op(first.author, 1, n=1)).seq,
        services.annotation_apply(op_pass=second, op=add_op(second.author, 1, n=2)).seq,
        services.annotation_apply(op_pass=first, op=add_op(first.author, 2, n=3)).seq,
    ]
    rows = list(
        AnnotationEvent.objects.filter(operation=operation).values_list(
            "seq", "author_seq"
        )
    )
    assert (seqs, rows) == ([1, 2, 3], [(1, 1), (2, 1), (3, 2)])


@pytest.mark.parametrize("role_of", ["surgeon", "moderator"])
def test_only_mentors_annotate(guidance, role_of) -> None:  # type: ignore[no-untyped-def]
    """The surgeon and the moderator get not_mentor; nothing is stored."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(getattr(guidance, role_of), operation)
    with pytest.raises(ConsultError) as caught:
        services.annotation_apply(op_pass=op_pass, op=add_op(op_pass.author, 1))
    assert (caught.value.code, _state(operation)) == ("not_mentor", (0, {}, 0))


def test_a_mentor_cannot_annotate_for_another(guidance) -> None:  # type: ignore[no-untyped-def]
    """An op naming another mentor as author is not_owner."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.mentor, operation)
    with pytest.raises(ConsultError) as caught:
        services.annotation_apply(
            op_pass=op_pass, op=add_op(author_of(guidance.specialist_mentor), 1)
        )
    assert (caught.value.code, _state(operation)) == ("not_owner", (0, {}, 0))


def test_a_mentor_cannot_undo_anothers_mark(guidance) -> None:  # type: ignore[no-untyped-def]
    """Undo of another mentor's annotation is not_owner and consumes no seq."""
    operation = guidance.schedule()
    owner = guidance.op_pass(guidance.mentor, operation)
    other = guidance.op_pass(guidance.specialist_mentor, operation)
    services.annotation_apply(op_pass=owner, op=add_op(owner.author, 1))
    before = _state(operation)
    with pytest.raises(ConsultError) as caught:
        services.annotation_apply(
            op_pass=other,
            op={
                "op": "undo",
                "author": other.author,
                "seq": 1,
                "id": str(uuid.UUID(int=1)),
            },
        )
    assert (caught.value.code, _state(operation)) == ("not_owner", before)


def test_a_resend_is_a_replay_that_writes_nothing(
    guidance, published, committing
) -> None:  # type: ignore[no-untyped-def]
    """The same (author, seq) again returns the first seq, replay=True, no event."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.mentor, operation)
    op = add_op(op_pass.author, 1)
    with committing():
        first = services.annotation_apply(op_pass=op_pass, op=op)
    with committing():
        again = services.annotation_apply(op_pass=op_pass, op=op)
    assert (again.seq, again.replay, again.snapshot, _state(operation)[::2]) == (
        first.seq,
        True,
        first.snapshot,
        (1, 1),
    )
    assert len(published) == 1


def test_a_gap_is_out_of_order(guidance) -> None:  # type: ignore[no-untyped-def]
    """seq 3 after seq 1 is out_of_order and changes nothing."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.mentor, operation)
    services.annotation_apply(op_pass=op_pass, op=add_op(op_pass.author, 1))
    before = _state(operation)
    with pytest.raises(ConsultError) as caught:
        services.annotation_apply(op_pass=op_pass, op=add_op(op_pass.author, 3))
    assert (caught.value.code, _state(operation)) == ("out_of_order", before)


def _malformed(author: str) -> list[tuple[str, object]]:
    base = add_op(author, 1)

    def with_annotation(**over: object) -> dict:
        return {**base, "annotation": {**base["annotation"], **over}}

    return [
        ("bad_number", with_annotation(points=[[float("nan"), 0.5], [0.5, 0.5]])),
        ("bad_number", with_annotation(points=[[float("inf"), 0.5], [0.5, 0.5]])),
        ("out_of_range", with_annotation(points=[[1.5, 0.5], [0.5, 0.5]])),
        ("out_of_range", with_annotation(points=[[0.5, -0.01], [0.5, 0.5]])),
        ("bad_type", with_annotation(points=[[True, 0.5], [0.5, 0.5]])),
        (
            "too_many_points",
            with_annotation(kind="freehand", points=[[0.5, 0.5]] * 2001),
        ),
        ("unknown_field", with_annotation(patient="x")),
        ("unknown_field", {**base, "extra": 1}),
        ("missing_field", {k: v for k, v in base.items() if k != "seq"}),
        ("bad_op", {**base, "op": "erase"}),
        ("not_an_object", ["add", author, 1]),
        ("bad_colour", with_annotation(colour="red")),
        ("bad_id", with_annotation(id="not-a-uuid")),
    ]


@pytest.mark.parametrize("case", range(13))
def test_malformed_ops_are_refused_with_the_telestration_code(guidance, case) -> None:  # type: ignore[no-untyped-def]
    """Each malformed op gets its telestration error code and changes nothing."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.mentor, operation)
    code, op = _malformed(op_pass.author)[case]
    with pytest.raises(ConsultError) as caught:
        services.annotation_apply(op_pass=op_pass, op=op)
    assert (caught.value.code, _state(operation)) == (code, (0, {}, 0))


def test_faded_unpinned_marks_are_pruned_from_the_snapshot(guidance) -> None:  # type: ignore[no-untyped-def]
    """Long-faded marks leave the snapshot; pinned and fresh stay; the log keeps all."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.mentor, operation)
    long_ago = now_ms() - 10 * 60_000
    ops = [
        add_op(op_pass.author, 1, created_at_ms=long_ago),
        add_op(op_pass.author, 2, created_at_ms=long_ago, pinned=True),
        add_op(op_pass.author, 3),
    ]
    for op in ops:
        services.annotation_apply(op_pass=op_pass, op=op)
    seq, state, logged = _state(operation)
    assert (
        [a["id"] for a in state["annotations"]],
        state["last_seq"],
        (seq, logged),
    ) == (
        [str(uuid.UUID(int=2)), str(uuid.UUID(int=3))],
        {op_pass.author: 3},
        (3, 3),
    )


def test_a_mentor_with_a_slow_clock_still_gets_marks_burned_in(guidance) -> None:  # type: ignore[no-untyped-def]
    """A mark stamped 10 s in the past (skewed browser clock) stays in the snapshot."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.mentor, operation)
    op = add_op(op_pass.author, 1, created_at_ms=now_ms() - 10_000)
    applied = services.annotation_apply(op_pass=op_pass, op=op)
    assert [a["id"] for a in applied.snapshot["annotations"]] == [
        op["annotation"]["id"]
    ]


def test_a_fresh_mark_with_a_long_fade_is_kept(guidance) -> None:  # type: ignore[no-untyped-def]
    """An unpinned mark drawn 5 minutes ago with a 10-minute fade is still there."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.mentor, operation)
    op = add_op(op_pass.author, 1, created_at_ms=now_ms() - 300_000, fade_after=600.0)
    applied = services.annotation_apply(op_pass=op_pass, op=op)
    assert len(applied.snapshot["annotations"]) == 1


def test_an_ended_operation_takes_no_annotations(guidance) -> None:  # type: ignore[no-untyped-def]
    """After the end, annotate is operation_ended and nothing is stored."""
    operation = guidance.schedule()
    services.operation_end(
        op_pass=guidance.op_pass(guidance.surgeon, operation), ctx=CTX
    )
    op_pass = guidance.op_pass(guidance.mentor, operation)
    with pytest.raises(ConsultError) as caught:
        services.annotation_apply(op_pass=op_pass, op=add_op(op_pass.author, 1))
    assert (caught.value.code, _state(operation)) == ("operation_ended", (0, {}, 0))


def test_clear_removes_the_target_authors_marks_only(guidance) -> None:  # type: ignore[no-untyped-def]
    """clear with target_author keeps the other mentor's marks."""
    operation = guidance.schedule()
    first = guidance.op_pass(guidance.mentor, operation)
    second = guidance.op_pass(guidance.specialist_mentor, operation)
    services.annotation_apply(op_pass=first, op=add_op(first.author, 1, n=1))
    services.annotation_apply(op_pass=second, op=add_op(second.author, 1, n=2))
    applied = services.annotation_apply(
        op_pass=first,
        op={
            "op": "clear",
            "author": first.author,
            "seq": 2,
            "target_author": first.author,
        },
    )
    assert [a["author"] for a in applied.snapshot["annotations"]] == [second.author]


# -- questions ------------------------------------------------------------------------


@pytest.fixture
def broadcast_op(guidance):  # type: ignore[no-untyped-def]
    return guidance.schedule(broadcast=True)


def test_a_trainee_asks_a_question(guidance, broadcast_op) -> None:  # type: ignore[no-untyped-def]
    """The question is stored pending, whitespace collapsed."""
    question = services.question_ask(
        op_pass=guidance.op_pass(guidance.trainee, broadcast_op),
        client_id=uuid.uuid4(),
        body="  Why   clip\nthe artery first? ",
    )
    assert (question.status, question.body, question.asked_by) == (
        Question.Status.PENDING,
        "Why clip the artery first?",
        guidance.trainee,
    )


def test_a_question_reaches_staff_only_after_commit(
    guidance, broadcast_op, published, committing
) -> None:  # type: ignore[no-untyped-def]
    """guidance.question (pending, with the asker's name) goes to staff on commit."""
    with committing():
        services.question_ask(
            op_pass=guidance.op_pass(guidance.trainee, broadcast_op),
            client_id=uuid.uuid4(),
            body="Which port first?",
        )
        before_commit = list(published)
    [(group, event)] = published
    assert (
        before_commit,
        group,
        event["question"]["status"],
        event["question"]["asked_by"],
    ) == (
        [],
        services.staff_group(broadcast_op.pk),
        "pending",
        guidance.trainee.get_full_name(),
    )


def test_a_resent_question_is_stored_once(
    guidance, broadcast_op, published, committing
) -> None:  # type: ignore[no-untyped-def]
    """The same client_id twice is one row and one event."""
    op_pass = guidance.op_pass(guidance.trainee, broadcast_op)
    client_id = uuid.uuid4()
    with committing():
        first = services.question_ask(op_pass=op_pass, client_id=client_id, body="Why?")
        again = services.question_ask(op_pass=op_pass, client_id=client_id, body="Why?")
    assert (again.pk, Question.objects.count(), len(published)) == (first.pk, 1, 1)


@pytest.mark.parametrize("role_of", ["surgeon", "mentor", "moderator"])
def test_staff_do_not_ask(guidance, broadcast_op, role_of) -> None:  # type: ignore[no-untyped-def]
    """Questions come from viewers: staff get not_viewer."""
    with pytest.raises(ConsultError) as caught:
        services.question_ask(
            op_pass=guidance.op_pass(getattr(guidance, role_of), broadcast_op),
            client_id=uuid.uuid4(),
            body="Why?",
        )
    assert (caught.value.code, Question.objects.count()) == ("not_viewer", 0)


@pytest.mark.parametrize("body", ["   ", "x" * 501])
def test_empty_or_long_questions_are_refused(guidance, broadcast_op, body) -> None:  # type: ignore[no-untyped-def]
    """Blank or over-500-character questions are bad_question."""
    with pytest.raises(ConsultError) as caught:
        services.question_ask(
            op_pass=guidance.op_pass(guidance.trainee, broadcast_op),
            client_id=uuid.uuid4(),
            body=body,
        )
    assert (caught.value.code, Question.objects.count()) == ("bad_question", 0)


def test_no_questions_once_the_broadcast_stops(guidance, broadcast_op) -> None:  # type: ignore[no-untyped-def]
    """A pass taken while broadcast is not enough after consent is withdrawn."""
    op_pass = guidance.op_pass(guidance.trainee, broadcast_op)
    services.consent_record(
        actor=guidance.surgeon, operation_id=broadcast_op.pk, broadcast=False, ctx=CTX
    )
    with pytest.raises(ConsultError) as caught:
        services.question_ask(op_pass=op_pass, client_id=uuid.uuid4(), body="Why?")
    assert (caught.value.code, Question.objects.count()) == ("consent_required", 0)


def test_a_client_id_from_another_operation_is_refused(guidance, broadcast_op) -> None:  # type: ignore[no-untyped-def]
    """Reusing a client_id in another operation is bad_question, not a silent no-op."""
    other = guidance.schedule(broadcast=True, title="Hernia repair")
    client_id = uuid.uuid4()
    services.question_ask(
        op_pass=guidance.op_pass(guidance.trainee, broadcast_op),
        client_id=client_id,
        body="Why?",
    )
    with pytest.raises(ConsultError) as caught:
        services.question_ask(
            op_pass=guidance.op_pass(guidance.trainee, other),
            client_id=client_id,
            body="Why?",
        )
    assert caught.value.code == "bad_question"


def _ask(guidance, operation) -> Question:  # type: ignore[no-untyped-def]
    return services.question_ask(
        op_pass=guidance.op_pass(guidance.trainee, operation),
        client_id=uuid.uuid4(),
        body="Why clip first?",
    )


def test_the_moderator_approves(guidance, broadcast_op, published, committing) -> None:  # type: ignore[no-untyped-def]
    """Approval: staff get it with the asker's name, the asker without; after commit."""
    question = _ask(guidance, broadcast_op)
    with committing():
        services.question_moderate(
            op_pass=guidance.op_pass(guidance.moderator, broadcast_op),
            question_id=question.pk,
            approve=True,
        )
        before_commit = list(published)
    question.refresh_from_db()
    groups = {group: event["question"] for group, event in published}
    staff = groups[services.staff_group(broadcast_op.pk)]
    own = groups[services.user_group(broadcast_op.pk, guidance.trainee.pk)]
    assert (
        before_commit,
        question.status,
        question.moderated_by,
        (staff["status"], "asked_by" in staff),
        (own["status"], "asked_by" in own),
    ) == (
        [],
        Question.Status.APPROVED,
        guidance.moderator,
        ("approved", True),
        ("approved", False),
    )


@pytest.mark.parametrize("role_of", ["mentor", "surgeon", "trainee"])
def test_only_the_moderator_moderates(guidance, broadcast_op, role_of) -> None:  # type: ignore[no-untyped-def]
    """With a moderator named, the surgeon and mentors cannot decide."""
    question = _ask(guidance, broadcast_op)
    with pytest.raises(ConsultError) as caught:
        services.question_moderate(
            op_pass=guidance.op_pass(getattr(guidance, role_of), broadcast_op),
            question_id=question.pk,
            approve=True,
        )
    question.refresh_from_db()
    assert (caught.value.code, question.status) == ("not_moderator", "pending")


def test_the_surgeon_moderates_when_nobody_is_named(guidance) -> None:  # type: ignore[no-untyped-def]
    """Without a moderator the surgeon decides."""
    operation = guidance.schedule(broadcast=True, moderator=None)
    question = _ask(guidance, operation)
    services.question_moderate(
        op_pass=guidance.op_pass(guidance.surgeon, operation),
        question_id=question.pk,
        approve=False,
    )
    question.refresh_from_db()
    assert question.status == Question.Status.REJECTED


def test_a_question_of_another_operation_is_not_found(guidance, broadcast_op) -> None:  # type: ignore[no-untyped-def]
    """A moderator of one operation cannot decide another's questions."""
    other = guidance.schedule(broadcast=True, title="Hernia repair", moderator=None)
    question = _ask(guidance, other)
    with pytest.raises(NotFound):
        services.question_moderate(
            op_pass=guidance.op_pass(guidance.moderator, broadcast_op),
            question_id=question.pk,
            approve=True,
        )


def test_a_decided_question_stays_decided(
    guidance, broadcast_op, published, committing
) -> None:  # type: ignore[no-untyped-def]
    """A second decision changes nothing and sends nothing."""
    question = _ask(guidance, broadcast_op)
    op_pass = guidance.op_pass(guidance.moderator, broadcast_op)
    services.question_moderate(op_pass=op_pass, question_id=question.pk, approve=False)
    with committing():
        services.question_moderate(
            op_pass=op_pass, question_id=question.pk, approve=True
        )
    question.refresh_from_db()
    assert (question.status, published) == (Question.Status.REJECTED, [])


# -- operation_end, composite and recording --------------------------------------------


def test_the_surgeon_ends_the_operation_and_its_room(
    guidance, published, committing
) -> None:  # type: ignore[no-untyped-def]
    """Ended: the room too, audited, room sockets told to end, watchers told."""
    operation = guidance.schedule(patient=guidance.patient)
    with committing():
        services.operation_end(
            op_pass=guidance.op_pass(guidance.surgeon, operation), ctx=CTX
        )
    operation.refresh_from_db()
    operation.room.refresh_from_db()
    audit = AuditEvent.objects.get(object_type="operation_end")
    assert (
        operation.status,
        operation.ended_at is not None,
        operation.room.status,
        (audit.actor_id, audit.patient_id),
        [(g, e["type"]) for g, e in published],
    ) == (
        Operation.Status.ENDED,
        True,
        Room.Status.ENDED,
        (guidance.surgeon.pk, guidance.patient.pk),
        [
            (room_group(operation.room_id), "room.host_action"),
            (services.operation_group(operation.pk), "guidance.ended"),
        ],
    )


@pytest.mark.parametrize("role_of", ["mentor", "moderator"])
def test_only_the_surgeon_ends(guidance, role_of) -> None:  # type: ignore[no-untyped-def]
    """A mentor or the moderator cannot end it; it stays scheduled."""
    operation = guidance.schedule()
    with pytest.raises(PermissionDenied):
        services.operation_end(
            op_pass=guidance.op_pass(getattr(guidance, role_of), operation), ctx=CTX
        )
    operation.refresh_from_db()
    assert (operation.status, operation.room.status) == (
        Operation.Status.SCHEDULED,
        Room.Status.OPEN,
    )


def test_ending_twice_is_a_no_op(guidance) -> None:  # type: ignore[no-untyped-def]
    """A second end keeps the first end time and audits nothing new."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.surgeon, operation)
    first = services.operation_end(op_pass=op_pass, ctx=CTX).ended_at
    again = services.operation_end(op_pass=op_pass, ctx=CTX).ended_at
    assert (again, AuditEvent.objects.filter(object_type="operation_end").count()) == (
        first,
        1,
    )


def test_composite_started_makes_the_operation_live(guidance) -> None:  # type: ignore[no-untyped-def]
    """The worker's reply makes it live, with the HLS URL only while broadcast."""
    operation = guidance.schedule(broadcast=True)
    live = services.composite_started(
        op_pass=guidance.op_pass(guidance.surgeon, operation),
        track="guidance:op",
        hls=f"hls/{operation.composite_name}/index.m3u8",
        clock_offset_ms=12.0,
    )
    operation.refresh_from_db()
    assert (operation.status, live["track"], live["hls"]) == (
        Operation.Status.LIVE,
        "guidance:op",
        f"/guidance/hls/{operation.broadcast_token}/index.m3u8",
    )


def test_an_ended_operation_does_not_go_live_again(guidance) -> None:  # type: ignore[no-untyped-def]
    """A late composite reply after the end is operation_ended."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.surgeon, operation)
    services.operation_end(op_pass=op_pass, ctx=CTX)
    with pytest.raises(ConsultError) as caught:
        services.composite_started(op_pass=op_pass, track="guidance:op", hls=None)
    assert caught.value.code == "operation_ended"


@pytest.mark.parametrize(
    "video", ["../../etc/passwd", "/etc/passwd", "recordings/../../x.mp4"]
)
def test_recording_paths_must_stay_relative(guidance, video) -> None:  # type: ignore[no-untyped-def]
    """Absolute or parent-escaping paths from a worker are bad_recording."""
    operation = guidance.schedule()
    with pytest.raises(ConsultError) as caught:
        services.recording_save(
            op_pass=guidance.op_pass(guidance.surgeon, operation),
            recording={"video": video, "timeline": "recordings/a.timeline.json"},
        )
    assert (caught.value.code, Recording.objects.count()) == ("bad_recording", 0)


def test_a_recording_is_saved_once(guidance) -> None:  # type: ignore[no-untyped-def]
    """The same stop reply twice keeps one row with the worker's numbers."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.surgeon, operation)
    reply = {
        "video": "recordings/op/a.mp4",
        "timeline": "recordings/op/a.timeline.json",
        "duration_s": 61.5,
        "bytes": 4096,
    }
    services.recording_save(op_pass=op_pass, recording=reply)
    row = services.recording_save(op_pass=op_pass, recording=reply)
    assert (
        Recording.objects.count(),
        row.duration_s,
        row.size_bytes,
        row.procedure,
    ) == (
        1,
        61.5,
        4096,
        operation.procedure,
    )
