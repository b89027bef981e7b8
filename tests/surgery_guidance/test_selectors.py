"""Reads of the guidance app: who takes part in or may watch what."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from consult.exceptions import NotFound
from surgery_guidance import selectors, services
from surgery_guidance.models import Operation
from tests.surgery_guidance.conftest import CTX, RecordingFactory, add_op

pytestmark = pytest.mark.django_db


# -- operation_pass_for_user ------------------------------------------------------


@pytest.mark.parametrize(
    ("role_of", "role"),
    [("surgeon", "surgeon"), ("mentor", "mentor"), ("moderator", "moderator")],
)
def test_staff_always_have_a_pass(guidance, role_of, role) -> None:  # type: ignore[no-untyped-def]
    """Surgeon, mentors and moderator get their part without any broadcast."""
    operation = guidance.schedule()
    user = getattr(guidance, role_of)
    op_pass = selectors.operation_pass_for_user(user, operation.pk)
    assert (op_pass.role, op_pass.is_staff, op_pass.author) == (
        role,
        True,
        f"u{user.pk}",
    )


def test_the_surgeon_moderates_when_nobody_is_named(guidance) -> None:  # type: ignore[no-untyped-def]
    """Without a moderator, the surgeon's pass moderates."""
    operation = guidance.schedule(moderator=None)
    op_pass = selectors.operation_pass_for_user(guidance.surgeon, operation.pk)
    assert (op_pass.is_surgeon, op_pass.is_moderator) == (True, True)


@pytest.mark.parametrize("role_of", ["trainee", "specialist", "nurse"])
def test_colleagues_watch_a_consented_broadcast(guidance, role_of) -> None:  # type: ignore[no-untyped-def]
    """Trainees, specialists and nurses of the hospital are viewers of a broadcast."""
    operation = guidance.schedule(broadcast=True)
    op_pass = selectors.operation_pass_for_user(
        getattr(guidance, role_of), operation.pk
    )
    assert (op_pass.role, op_pass.is_viewer) == ("viewer", True)


@pytest.mark.parametrize("role_of", ["trainee", "specialist", "nurse"])
def test_colleagues_see_nothing_without_a_broadcast(guidance, role_of) -> None:  # type: ignore[no-untyped-def]
    """Without the broadcast the operation does not exist for them."""
    operation = guidance.schedule()
    with pytest.raises(NotFound):
        selectors.operation_pass_for_user(getattr(guidance, role_of), operation.pk)


def test_a_broadcast_flag_without_consent_admits_no_viewer(guidance) -> None:  # type: ignore[no-untyped-def]
    """A row flagged broadcast with no consent on record (bypassing clean) is closed."""
    operation = guidance.schedule()
    Operation.objects.filter(pk=operation.pk).update(broadcast=True)
    with pytest.raises(NotFound):
        selectors.operation_pass_for_user(guidance.trainee, operation.pk)


@pytest.mark.parametrize(
    "role_of",
    ["paramedic", "operator", "administrator", "other_trainee", "other_surgeon"],
)
def test_others_never_have_a_pass(guidance, role_of) -> None:  # type: ignore[no-untyped-def]
    """Paramedics, operators, administrators and other hospitals: NotFound."""
    operation = guidance.schedule(broadcast=True)
    with pytest.raises(NotFound):
        selectors.operation_pass_for_user(getattr(guidance, role_of), operation.pk)


@pytest.mark.parametrize("operation_id", ["not-a-uuid", str(uuid.uuid4()), "", None])
def test_bad_or_unknown_ids_are_not_found(guidance, operation_id) -> None:  # type: ignore[no-untyped-def]
    """Garbage and unknown ids are NotFound, never a 500."""
    guidance.schedule(broadcast=True)
    with pytest.raises(NotFound):
        selectors.operation_pass_for_user(guidance.surgeon, operation_id)


def test_anonymous_has_no_pass(guidance) -> None:  # type: ignore[no-untyped-def]
    """An anonymous user is NotFound."""
    operation = guidance.schedule(broadcast=True)
    with pytest.raises(NotFound):
        selectors.operation_pass_for_user(AnonymousUser(), operation.pk)


def test_the_pass_costs_two_queries(guidance, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    """Sockets re-check the pass every few seconds: the operation, the mentor test."""
    operation = guidance.schedule(broadcast=True)
    with django_assert_num_queries(2):
        selectors.operation_pass_for_user(guidance.trainee, operation.pk)


# -- operations_for / operations_upcoming ---------------------------------------------


def test_operations_for_staff_and_viewers(guidance) -> None:  # type: ignore[no-untyped-def]
    """Mentors see theirs; a trainee sees broadcasts only; other hospitals nothing."""
    private = guidance.schedule(title="Private")
    shared = guidance.schedule(title="Shared", broadcast=True)
    guidance.schedule(title="Not mine", mentors=[guidance.specialist_mentor])
    seen = {
        name: sorted(o.title for o in selectors.operations_for(getattr(guidance, name)))
        for name in ("mentor", "trainee", "other_trainee", "paramedic")
    }
    assert seen == {
        "mentor": [private.title, shared.title],
        "trainee": [shared.title],
        "other_trainee": [],
        "paramedic": [],
    }


def test_operations_for_lists_each_operation_once(guidance) -> None:  # type: ignore[no-untyped-def]
    """A mentor who also moderates a broadcast appears once (no join duplicates)."""
    guidance.schedule(
        mentors=[guidance.mentor, guidance.specialist_mentor],
        moderator=guidance.mentor,
        broadcast=True,
    )
    assert selectors.operations_for(guidance.mentor).count() == 1


def test_upcoming_puts_live_first_and_drops_ended_and_stale(guidance) -> None:  # type: ignore[no-untyped-def]
    """Live first, then scheduled by start; ended and two-day-old ones are gone."""
    now = timezone.now()
    later = guidance.schedule(
        title="Later", scheduled_start=now + dt.timedelta(hours=2)
    )
    soon = guidance.schedule(title="Soon", scheduled_start=now + dt.timedelta(hours=1))
    live = guidance.schedule(
        title="Live", scheduled_start=now + dt.timedelta(hours=3), status="live"
    )
    guidance.schedule(title="Ended", status="ended")
    guidance.schedule(title="Stale", scheduled_start=now - dt.timedelta(days=2))
    rows = selectors.operations_upcoming(guidance.surgeon)
    assert [o.title for o in rows] == [live.title, soon.title, later.title]


# -- recordings ------------------------------------------------------------------------


@pytest.fixture
def library(guidance):  # type: ignore[no-untyped-def]
    """Two recordings of a broadcast operation and one of a private one."""
    shared = guidance.schedule(broadcast=True, procedure="Cholecystectomy")
    private = guidance.schedule(
        procedure="Hernia repair", mentors=[guidance.specialist_mentor]
    )
    return {
        "shared": [
            RecordingFactory(operation=shared),
            RecordingFactory(operation=shared),
        ],
        "private": RecordingFactory(operation=private),
    }


def test_trainees_see_recordings_of_broadcast_operations(guidance, library) -> None:  # type: ignore[no-untyped-def]
    """The library holds what was broadcast with consent."""
    seen = set(selectors.recordings_for(guidance.trainee))
    assert seen == set(library["shared"])


def test_staff_see_their_private_recordings(guidance, library) -> None:  # type: ignore[no-untyped-def]
    """A mentor of a private operation sees its recording too."""
    seen = set(selectors.recordings_for(guidance.specialist_mentor))
    assert seen == {*library["shared"], library["private"]}


@pytest.mark.parametrize("role_of", ["other_trainee", "paramedic", "operator"])
def test_others_see_no_recordings(guidance, library, role_of) -> None:  # type: ignore[no-untyped-def]
    """Other hospitals and non-viewer roles have an empty library."""
    assert list(selectors.recordings_for(getattr(guidance, role_of))) == []


def test_withdrawn_consent_hides_the_recordings_from_viewers(guidance, library) -> None:  # type: ignore[no-untyped-def]
    """Turning the broadcast off takes its recordings out of trainees' library."""
    operation = library["shared"][0].operation
    services.consent_record(
        actor=guidance.surgeon, operation_id=operation.pk, broadcast=False, ctx=CTX
    )
    assert list(selectors.recordings_for(guidance.trainee)) == []


def test_the_library_filters_by_procedure(guidance, library) -> None:  # type: ignore[no-untyped-def]
    """procedure matches case-insensitively; procedures_for lists the user's."""
    rows = selectors.recordings_for(guidance.mentor, procedure="cholecystectomy")
    assert (len(rows), selectors.procedures_for(guidance.mentor)) == (
        2,
        ["Cholecystectomy"],
    )


def test_recording_for_someone_else_is_not_found(guidance, library) -> None:  # type: ignore[no-untyped-def]
    """A trainee asking for the private recording by id gets NotFound."""
    with pytest.raises(NotFound):
        selectors.recording_for(guidance.trainee, library["private"].pk)


# -- annotations and questions ---------------------------------------------------------


def test_annotation_backfill_is_exactly_the_later_events(guidance) -> None:  # type: ignore[no-untyped-def]
    """after_seq=2 of five returns seq 3, 4, 5 in order."""
    operation = guidance.schedule()
    op_pass = guidance.op_pass(guidance.mentor, operation)
    for seq in range(1, 6):
        services.annotation_apply(op_pass=op_pass, op=add_op(op_pass.author, seq))
    events = selectors.annotation_events_after(op_pass, after_seq=2)
    assert [(e["seq"], e["op"]["seq"]) for e in events] == [(3, 3), (4, 4), (5, 5)]


def test_viewers_get_no_annotation_backfill(guidance) -> None:  # type: ignore[no-untyped-def]
    """The log is for staff; a viewer's request is NotFound."""
    operation = guidance.schedule(broadcast=True)
    with pytest.raises(NotFound):
        selectors.annotation_events_after(
            guidance.op_pass(guidance.trainee, operation), after_seq=0
        )


def test_questions_per_role(guidance) -> None:  # type: ignore[no-untyped-def]
    """Moderator: all; mentor: decided ones; a trainee: only their own."""
    operation = guidance.schedule(broadcast=True)
    mine = services.question_ask(
        op_pass=guidance.op_pass(guidance.trainee, operation),
        client_id=uuid.uuid4(),
        body="Mine",
    )
    theirs = services.question_ask(
        op_pass=guidance.op_pass(guidance.specialist, operation),
        client_id=uuid.uuid4(),
        body="Theirs",
    )
    services.question_moderate(
        op_pass=guidance.op_pass(guidance.moderator, operation),
        question_id=theirs.pk,
        approve=True,
    )
    seen = {
        name: [
            q["body"]
            for q in selectors.questions_for(
                guidance.op_pass(getattr(guidance, name), operation)
            )
        ]
        for name in ("moderator", "mentor", "trainee")
    }
    assert (mine.body, seen) == (
        "Mine",
        {"moderator": ["Mine", "Theirs"], "mentor": ["Theirs"], "trainee": ["Mine"]},
    )
