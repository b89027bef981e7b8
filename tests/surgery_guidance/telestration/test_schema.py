"""Validation of annotations and operations: accepted shapes and stable refusals."""

from __future__ import annotations

import json
import math

import pytest

from surgery_guidance.telestration.schema import (
    ERROR_CODES,
    MAX_FREEHAND_POINTS,
    MAX_TEXT_CHARS,
    Annotation,
    AnnotationError,
    Kind,
    OpKind,
    parse_op,
)
from tests.surgery_guidance.telestration.helpers import annotation_dict


def _code(data: object) -> str:
    with pytest.raises(AnnotationError) as caught:
        Annotation.from_dict(data)
    return caught.value.code


@pytest.mark.parametrize("kind", [k.value for k in Kind])
def test_every_kind_round_trips_through_json(kind: str) -> None:
    """Each kind validates, and to_dict -> JSON -> from_dict gives an equal value."""
    first = Annotation.from_dict(annotation_dict(kind))
    again = Annotation.from_dict(json.loads(json.dumps(first.to_dict())))
    assert again == first


def test_defaults_fade_after_a_few_seconds_untracked_unpinned() -> None:
    """Omitted options mean: fades after 4 s, not pinned, not tracked."""
    a = Annotation.from_dict(annotation_dict())
    assert (a.fade_after, a.pinned, a.tracked) == (4.0, False, False)


def test_colour_and_id_are_canonicalised_to_lower_case() -> None:
    """``#FF00AA`` and an upper-case UUID are stored in one spelling."""
    data = annotation_dict(colour="#FF00AA")
    data["id"] = data["id"].upper()
    a = Annotation.from_dict(data)
    assert (a.colour, a.id) == ("#ff00aa", data["id"].lower())


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_coordinate_is_bad_number(bad: float) -> None:
    """NaN and infinities (which json.loads accepts) are refused as bad_number."""
    assert _code(annotation_dict(points=[[0.2, 0.2], [bad, 0.5]])) == "bad_number"


def test_nan_from_raw_json_text_is_refused() -> None:
    """A browser sending the literal NaN gets bad_number, not a NaN annotation."""
    raw = json.dumps(annotation_dict()).replace("0.75", "NaN")
    assert _code(json.loads(raw)) == "bad_number"


@pytest.mark.parametrize("point", [[1.2, 0.5], [-0.01, 0.5], [0.5, 1.0001]])
def test_coordinate_outside_the_frame_is_out_of_range(point: list[float]) -> None:
    """Normalised coordinates must lie in 0..1."""
    assert _code(annotation_dict(points=[[0.2, 0.2], point])) == "out_of_range"


def test_boolean_coordinate_is_bad_type() -> None:
    """``true`` is not a number even though Python's bool is an int."""
    assert _code(annotation_dict(points=[[0.2, 0.2], [True, 0.5]])) == "bad_type"


def test_oversized_freehand_is_too_many_points() -> None:
    """More than MAX_FREEHAND_POINTS points are refused before any is read."""
    points = [[0.5, 0.5]] * (MAX_FREEHAND_POINTS + 1)
    assert _code(annotation_dict("freehand", points=points)) == "too_many_points"


def test_freehand_at_the_limit_is_accepted() -> None:
    """Exactly MAX_FREEHAND_POINTS points validate."""
    points = [[i / MAX_FREEHAND_POINTS, 0.5] for i in range(MAX_FREEHAND_POINTS)]
    a = Annotation.from_dict(annotation_dict("freehand", points=points))
    assert len(a.points) == MAX_FREEHAND_POINTS


def test_arrow_with_three_points_is_wrong_point_count() -> None:
    """An arrow is exactly tail and tip."""
    points = [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]
    assert _code(annotation_dict(points=points)) == "wrong_point_count"


def test_long_text_is_text_too_long() -> None:
    """Text labels are bounded."""
    data = annotation_dict("text", text="x" * (MAX_TEXT_CHARS + 1))
    assert _code(data) == "text_too_long"


def test_control_characters_in_text_are_bad_text() -> None:
    """Line breaks and control characters cannot reach the overlay."""
    assert _code(annotation_dict("text", text="a\nb")) == "bad_text"


def test_text_on_an_arrow_is_bad_text() -> None:
    """Only text annotations carry text."""
    assert _code(annotation_dict(text="label")) == "bad_text"


def test_unknown_field_is_refused() -> None:
    """Fields the schema does not know are refused, not ignored."""
    assert _code(annotation_dict(opacity=0.5)) == "unknown_field"


def test_missing_field_is_refused() -> None:
    """Every required field must be present."""
    data = annotation_dict()
    del data["frame_time"]
    assert _code(data) == "missing_field"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("colour", "red", "bad_colour"),
        ("colour", "#ff00", "bad_colour"),
        ("id", "not-a-uuid", "bad_id"),
        ("kind", "laser", "bad_kind"),
        ("thickness", 0.0, "out_of_range"),
        ("fade_after", -1.0, "out_of_range"),
        ("frame_time", -0.5, "out_of_range"),
        ("pinned", 1, "bad_type"),
        ("author", "", "bad_author"),
        ("created_at_ms", 1.5, "bad_type"),
    ],
)
def test_bad_field_values_have_stable_codes(
    field: str, value: object, code: str
) -> None:
    """Each kind of bad value maps to its documented code."""
    data = annotation_dict()
    data[field] = value
    assert _code(data) == code


def test_non_object_is_not_an_object() -> None:
    """A list where an object belongs is refused."""
    assert _code([1, 2, 3]) == "not_an_object"


def test_every_code_raised_is_registered() -> None:
    """An error code outside ERROR_CODES cannot be constructed."""
    with pytest.raises(ValueError, match="unregistered"):
        AnnotationError("made_up", "nope")
    assert "out_of_order" in ERROR_CODES


def test_op_parses_add_with_its_annotation() -> None:
    """An add op carries a validated annotation and round-trips through to_dict."""
    data = {
        "op": "add",
        "author": "mentor-1",
        "seq": 1,
        "annotation": annotation_dict(),
    }
    op = parse_op(data)
    assert op.kind is OpKind.ADD and parse_op(op.to_dict()) == op


def test_op_for_someone_elses_annotation_is_not_owner() -> None:
    """The sender of an add must be the annotation's author."""
    data = {
        "op": "add",
        "author": "mentor-2",
        "seq": 1,
        "annotation": annotation_dict(),
    }
    with pytest.raises(AnnotationError) as caught:
        parse_op(data)
    assert caught.value.code == "not_owner"


def test_op_with_unknown_field_is_refused() -> None:
    """Operations are as strict as annotations."""
    data = {
        "op": "undo",
        "author": "m",
        "seq": 1,
        "id": annotation_dict()["id"],
        "x": 1,
    }
    with pytest.raises(AnnotationError) as caught:
        parse_op(data)
    assert caught.value.code == "unknown_field"


@pytest.mark.parametrize("op", ["delete", None, 3])
def test_unknown_op_is_bad_op(op: object) -> None:
    """Only add, update, undo and clear exist."""
    with pytest.raises(AnnotationError) as caught:
        parse_op({"op": op, "author": "m", "seq": 1})
    assert caught.value.code == "bad_op"


@pytest.mark.parametrize("seq", [0, -1, 1.0, True])
def test_seq_must_be_a_positive_integer(seq: object) -> None:
    """Sequence numbers start at 1 and are integers."""
    with pytest.raises(AnnotationError) as caught:
        parse_op({"op": "clear", "author": "m", "seq": seq})
    assert caught.value.code in {"out_of_range", "bad_type"}
