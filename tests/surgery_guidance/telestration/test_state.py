"""Folding operations into the annotation set: order, idempotence, undo, clear, fade."""

from __future__ import annotations

import pytest

from surgery_guidance.telestration.schema import (
    FADE_OUT_S,
    AnnotationError,
    AnnotationState,
    parse_op,
)
from tests.surgery_guidance.telestration.helpers import add, annotation_dict


def _op(**data: object) -> object:
    return parse_op(data)


def _refusal(state: AnnotationState, op: object) -> str:
    with pytest.raises(AnnotationError) as caught:
        state.apply(op)  # type: ignore[arg-type]
    return caught.value.code


def test_add_makes_the_annotation_visible_from_its_frame() -> None:
    """An added annotation is drawn at and after the frame it was drawn on."""
    state = AnnotationState().apply(add(1))
    assert [v.annotation.kind for v in state.visible_at(10.5)] == ["arrow"]


def test_annotation_is_not_visible_before_its_frame() -> None:
    """During replay, an annotation appears only when it was drawn."""
    state = AnnotationState().apply(add(1))
    assert state.visible_at(9.9) == ()


def test_replayed_op_is_a_no_op() -> None:
    """Applying the same seq twice returns the same state (idempotent ingest)."""
    state = AnnotationState().apply(add(1))
    assert state.apply(add(1)) is state


def test_gap_in_seq_is_out_of_order_and_changes_nothing() -> None:
    """seq 3 after seq 1 is refused with out_of_order; the state is untouched."""
    state = AnnotationState().apply(add(1))
    assert _refusal(state, add(3, n=2)) == "out_of_order"
    assert len(state.annotations) == 1 and state.last_seq == {"mentor-1": 1}


def test_each_author_has_its_own_sequence() -> None:
    """Two mentors both start at seq 1."""
    state = AnnotationState().apply(add(1)).apply(add(1, n=2, author="mentor-2"))
    assert state.last_seq == {"mentor-1": 1, "mentor-2": 1}


def test_refused_op_does_not_consume_its_seq() -> None:
    """After a duplicate-id refusal the sender may reuse the seq for another op."""
    state = AnnotationState().apply(add(1))
    assert _refusal(state, add(2)) == "duplicate_annotation"
    assert len(state.apply(add(2, n=2)).annotations) == 2


def test_undo_removes_by_id() -> None:
    """Undo takes the annotation away."""
    state = AnnotationState().apply(add(1)).apply(add(2, n=2))
    first = annotation_dict()["id"]
    state = state.apply(_op(op="undo", author="mentor-1", seq=3, id=first))
    assert list(state.annotations) == [annotation_dict(n=2)["id"]]


def test_undo_of_an_already_removed_id_is_a_no_op_that_consumes_seq() -> None:
    """Undoing twice (two tabs) is harmless."""
    state = AnnotationState().apply(add(1))
    ident = annotation_dict()["id"]
    state = state.apply(_op(op="undo", author="mentor-1", seq=2, id=ident))
    state = state.apply(_op(op="undo", author="mentor-1", seq=3, id=ident))
    assert state.annotations == {} and state.last_seq["mentor-1"] == 3


def test_undo_of_another_authors_annotation_is_not_owner() -> None:
    """A mentor cannot undo a colleague's mark."""
    state = AnnotationState().apply(add(1))
    op = _op(op="undo", author="mentor-2", seq=1, id=annotation_dict()["id"])
    assert _refusal(state, op) == "not_owner"


def test_update_replaces_in_place_keeping_drawing_order() -> None:
    """An update changes the annotation but not its place in the stack."""
    state = AnnotationState().apply(add(1)).apply(add(2, n=2))
    data = annotation_dict(colour="#00ff00")
    state = state.apply(_op(op="update", author="mentor-1", seq=3, annotation=data))
    assert [a.colour for a in state.annotations.values()] == ["#00ff00", "#ff0000"]


def test_update_of_unknown_id_is_unknown_annotation() -> None:
    """Updating something that is not there is refused."""
    op = _op(op="update", author="mentor-1", seq=1, annotation=annotation_dict())
    assert _refusal(AnnotationState(), op) == "unknown_annotation"


def test_clear_all_removes_everyones_annotations() -> None:
    """A clear without a target author empties the set."""
    state = AnnotationState().apply(add(1)).apply(add(1, n=2, author="mentor-2"))
    state = state.apply(_op(op="clear", author="mentor-1", seq=2))
    assert state.annotations == {}


def test_clear_by_author_keeps_the_others() -> None:
    """Clearing one author's marks leaves a colleague's."""
    state = AnnotationState().apply(add(1)).apply(add(1, n=2, author="mentor-2"))
    op = _op(op="clear", author="mentor-1", seq=2, target_author="mentor-1")
    state = state.apply(op)
    assert [a.author for a in state.annotations.values()] == ["mentor-2"]


def test_state_is_immutable_so_old_snapshots_stay_valid() -> None:
    """Applying returns a new state; the compositor's snapshot is unaffected."""
    before = AnnotationState().apply(add(1))
    after = before.apply(_op(op="clear", author="mentor-1", seq=2))
    assert len(before.annotations) == 1 and after.version == before.version + 1


def test_unpinned_annotation_is_opaque_until_fade_after() -> None:
    """Full opacity for fade_after seconds after its frame."""
    state = AnnotationState().apply(add(1, fade_after=2.0))
    assert state.visible_at(12.0)[0].opacity == 1.0


def test_unpinned_annotation_fades_linearly_then_disappears() -> None:
    """Half-way through the fade-out it is half transparent; after it, gone."""
    state = AnnotationState().apply(add(1, fade_after=2.0))
    assert state.visible_at(12.0 + FADE_OUT_S / 2)[0].opacity == pytest.approx(0.5)
    assert state.visible_at(12.0 + FADE_OUT_S + 0.01) == ()


def test_pinned_annotation_never_fades() -> None:
    """Pinned marks stay until undone or cleared."""
    state = AnnotationState().apply(add(1, pinned=True, fade_after=1.0))
    assert state.visible_at(10_000.0)[0].opacity == 1.0
