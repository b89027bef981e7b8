"""The annotation model: what a mentor draws, as sent, stored and burned in.

Annotations are frozen dataclasses built only through strict validation of
JSON-safe dicts (``Annotation.from_dict``, ``parse_op``) and turned back into
such dicts with ``to_dict``. Every refusal raises ``AnnotationError`` whose
``code`` is a stable string the browser and the Django consumer switch on
(see ``ERROR_CODES``).

Units and spaces:

* ``points`` are **normalised frame coordinates** (0..1 floats, x right, y
  down, ``(0, 0)`` the picture's top-left corner; see ``geometry``).
* ``thickness`` and ``text_size`` are pixels **of a 1080-line frame**; the
  rasteriser scales them with the frame height, so an annotation looks the
  same at 720p and 4K.
* ``frame_time`` is the media time in seconds (the feed's pts in seconds, the
  compositor's ``timestamp``) of the frame the mentor drew on;
  ``capture_ms`` is that frame's latency-stamp capture time (Unix epoch ms),
  when the browser could read one; ``created_at_ms`` is the mentor's wall
  clock (Unix epoch ms, UTC) when the stroke was finished.
* ``fade_after`` is seconds of media time after ``frame_time`` before an
  unpinned annotation starts to fade out (over ``FADE_OUT_S``).
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from surgery_guidance.telestration.geometry import NormPoint

logger = logging.getLogger(__name__)

MAX_FREEHAND_POINTS = 2000
MAX_TEXT_CHARS = 200
MAX_AUTHOR_CHARS = 64
MAX_ANNOTATIONS = 500
DEFAULT_FADE_AFTER_S = 4.0
MAX_FADE_AFTER_S = 3600.0
MIN_FADE_AFTER_S = 0.1
FADE_OUT_S = 1.0
DEFAULT_THICKNESS = 6.0
THICKNESS_RANGE = (1.0, 48.0)
DEFAULT_TEXT_SIZE = 36.0
TEXT_SIZE_RANGE = (8.0, 200.0)
#: Media times beyond this (about 115 days) are treated as garbage.
MAX_MEDIA_TIME_S = 1e7
_MAX_EPOCH_MS = 1 << 53

ERROR_CODES = frozenset(
    {
        "not_an_object",
        "unknown_field",
        "missing_field",
        "bad_type",
        "bad_id",
        "bad_kind",
        "bad_colour",
        "bad_number",
        "out_of_range",
        "wrong_point_count",
        "too_many_points",
        "text_too_long",
        "bad_text",
        "bad_author",
        "bad_op",
        "out_of_order",
        "unknown_annotation",
        "duplicate_annotation",
        "not_owner",
        "too_many_annotations",
    }
)

_COLOUR = re.compile(r"#[0-9a-f]{6}")
# Printable text only: no control characters (they would break the overlay
# and logs) and no line breaks (text annotations are single labels).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class AnnotationError(ValueError):
    """A refused annotation or operation; ``code`` is stable, ``detail`` is prose."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        if code not in ERROR_CODES:
            raise ValueError(f"unregistered annotation error code {code!r}")
        self.code = code
        self.detail = detail


class Kind(StrEnum):
    """What an annotation draws."""

    ARROW = "arrow"
    CIRCLE = "circle"
    FREEHAND = "freehand"
    TEXT = "text"
    INCISION = "incision"
    TARGET = "target"


#: Allowed number of points per kind (inclusive), and what they mean.
POINT_COUNTS: dict[Kind, tuple[int, int]] = {
    Kind.ARROW: (2, 2),  # tail, tip
    Kind.CIRCLE: (2, 2),  # centre, a point on the rim
    Kind.FREEHAND: (2, MAX_FREEHAND_POINTS),  # the stroke, in order
    Kind.TEXT: (1, 1),  # top-left of the text box
    Kind.INCISION: (2, MAX_FREEHAND_POINTS),  # the planned cut, in order
    Kind.TARGET: (1, 1),  # centre of the instrument target
}


# -- field checks ------------------------------------------------------------


def _number(value: object, name: str) -> float:
    # bool is an int subclass; "true" is never a coordinate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnnotationError("bad_type", f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise AnnotationError("bad_number", f"{name} must be finite")
    return number


def _ranged(value: object, name: str, lo: float, hi: float) -> float:
    number = _number(value, name)
    if not lo <= number <= hi:
        raise AnnotationError("out_of_range", f"{name} must be in [{lo}, {hi}]")
    return number


def _integer(value: object, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnnotationError("bad_type", f"{name} must be an integer")
    if not lo <= value <= hi:
        raise AnnotationError("out_of_range", f"{name} must be in [{lo}, {hi}]")
    return value


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise AnnotationError("bad_type", f"{name} must be true or false")
    return value


def _author(value: object, name: str = "author") -> str:
    if not isinstance(value, str):
        raise AnnotationError("bad_type", f"{name} must be a string")
    if not 1 <= len(value) <= MAX_AUTHOR_CHARS or _CONTROL.search(value):
        raise AnnotationError(
            "bad_author", f"{name} must be 1..{MAX_AUTHOR_CHARS} printable characters"
        )
    return value


def _annotation_id(value: object) -> str:
    if not isinstance(value, str):
        raise AnnotationError("bad_type", "id must be a string")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise AnnotationError("bad_id", "id must be a UUID") from None
    # One spelling per id, so ids compare as strings.
    if str(parsed) != value.lower() or len(value) != 36:
        raise AnnotationError("bad_id", "id must be a hyphenated UUID")
    return str(parsed)


def _colour(value: object) -> str:
    if not isinstance(value, str):
        raise AnnotationError("bad_type", "colour must be a string")
    colour = value.lower()
    if not _COLOUR.fullmatch(colour):
        raise AnnotationError("bad_colour", "colour must be #rrggbb")
    return colour


def _points(value: object, kind: Kind) -> tuple[NormPoint, ...]:
    if not isinstance(value, list | tuple):
        raise AnnotationError("bad_type", "points must be a list of [x, y]")
    lo, hi = POINT_COUNTS[kind]
    # Checked before looking at any element, so a huge list costs nothing.
    if len(value) > hi and hi == MAX_FREEHAND_POINTS:
        raise AnnotationError(
            "too_many_points", f"{kind.value} takes at most {hi} points"
        )
    if not lo <= len(value) <= hi:
        raise AnnotationError(
            "wrong_point_count", f"{kind.value} takes {lo}..{hi} points"
        )
    out: list[NormPoint] = []
    for index, item in enumerate(value):
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise AnnotationError("bad_type", f"points[{index}] must be [x, y]")
        x = _ranged(item[0], f"points[{index}].x", 0.0, 1.0)
        y = _ranged(item[1], f"points[{index}].y", 0.0, 1.0)
        out.append((x, y))
    return tuple(out)


def _text(value: object, kind: Kind) -> str:
    if not isinstance(value, str):
        raise AnnotationError("bad_type", "text must be a string")
    if len(value) > MAX_TEXT_CHARS:
        raise AnnotationError(
            "text_too_long", f"text is limited to {MAX_TEXT_CHARS} characters"
        )
    if _CONTROL.search(value):
        raise AnnotationError("bad_text", "text must not contain control characters")
    if kind is Kind.TEXT and not value.strip():
        raise AnnotationError("bad_text", "a text annotation needs text")
    if kind is not Kind.TEXT and value:
        raise AnnotationError("bad_text", f"{kind.value} annotations carry no text")
    return value


def _object(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise AnnotationError("not_an_object", f"{name} must be a JSON object")
    return value


def _check_fields(
    data: Mapping[str, Any], required: frozenset[str], optional: frozenset[str]
) -> None:
    unknown = sorted(set(data) - required - optional)
    if unknown:
        raise AnnotationError(
            "unknown_field", f"unknown field(s): {', '.join(unknown)}"
        )
    missing = sorted(required - set(data))
    if missing:
        raise AnnotationError(
            "missing_field", f"missing field(s): {', '.join(missing)}"
        )


# -- the annotation ----------------------------------------------------------

_REQUIRED = frozenset(
    {"id", "kind", "author", "colour", "points", "frame_time", "created_at_ms"}
)
_OPTIONAL = frozenset(
    {
        "thickness",
        "pinned",
        "fade_after",
        "tracked",
        "text",
        "text_size",
        "capture_ms",
    }
)


@dataclass(frozen=True, slots=True)
class Annotation:
    """One mark on the video. Build it with ``from_dict``; see the module doc.

    ``points`` are normalised frame coordinates (0..1, x right, y down);
    ``thickness``/``text_size`` are pixels of a 1080-line frame; times are
    media seconds (``frame_time``, ``fade_after``) or Unix epoch ms.
    """

    id: str
    kind: Kind
    author: str
    colour: str
    points: tuple[NormPoint, ...]
    frame_time: float
    created_at_ms: int
    thickness: float = DEFAULT_THICKNESS
    pinned: bool = False
    fade_after: float = DEFAULT_FADE_AFTER_S
    tracked: bool = False
    text: str = ""
    text_size: float = DEFAULT_TEXT_SIZE
    capture_ms: int | None = None

    @classmethod
    def from_dict(cls, data: object) -> Annotation:
        """Validate a JSON-safe dict; raise ``AnnotationError`` on anything off."""
        obj = _object(data, "annotation")
        _check_fields(obj, _REQUIRED, _OPTIONAL)
        kind_value = obj["kind"]
        if not isinstance(kind_value, str):
            raise AnnotationError("bad_type", "kind must be a string")
        try:
            kind = Kind(kind_value)
        except ValueError:
            raise AnnotationError("bad_kind", f"unknown kind {kind_value!r}") from None
        capture = obj.get("capture_ms")
        return cls(
            id=_annotation_id(obj["id"]),
            kind=kind,
            author=_author(obj["author"]),
            colour=_colour(obj["colour"]),
            points=_points(obj["points"], kind),
            frame_time=_ranged(obj["frame_time"], "frame_time", 0.0, MAX_MEDIA_TIME_S),
            created_at_ms=_integer(
                obj["created_at_ms"], "created_at_ms", 0, _MAX_EPOCH_MS
            ),
            thickness=_ranged(
                obj.get("thickness", DEFAULT_THICKNESS), "thickness", *THICKNESS_RANGE
            ),
            pinned=_flag(obj.get("pinned", False), "pinned"),
            fade_after=_ranged(
                obj.get("fade_after", DEFAULT_FADE_AFTER_S),
                "fade_after",
                MIN_FADE_AFTER_S,
                MAX_FADE_AFTER_S,
            ),
            tracked=_flag(obj.get("tracked", False), "tracked"),
            text=_text(obj.get("text", ""), kind),
            text_size=_ranged(
                obj.get("text_size", DEFAULT_TEXT_SIZE), "text_size", *TEXT_SIZE_RANGE
            ),
            capture_ms=None
            if capture is None
            else _integer(capture, "capture_ms", 0, _MAX_EPOCH_MS),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe dict form; ``from_dict(to_dict())`` gives an equal value."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind.value,
            "author": self.author,
            "colour": self.colour,
            "points": [[x, y] for x, y in self.points],
            "frame_time": self.frame_time,
            "created_at_ms": self.created_at_ms,
            "thickness": self.thickness,
            "pinned": self.pinned,
            "fade_after": self.fade_after,
            "tracked": self.tracked,
            "text_size": self.text_size,
        }
        if self.text:
            data["text"] = self.text
        if self.capture_ms is not None:
            data["capture_ms"] = self.capture_ms
        return data

    def opacity_at(self, t: float) -> float:
        """Opacity 0..1 at media time ``t`` (s): 0 before ``frame_time``, then fade."""
        age = t - self.frame_time
        if not math.isfinite(age) or age < 0.0:
            return 0.0
        if self.pinned or age <= self.fade_after:
            return 1.0
        return max(0.0, 1.0 - (age - self.fade_after) / FADE_OUT_S)


# -- operations ----------------------------------------------------------------


class OpKind(StrEnum):
    """What an operation does to the annotation set."""

    ADD = "add"
    UPDATE = "update"
    UNDO = "undo"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Op:
    """One change, numbered per author: ``seq`` is 1, 2, 3, ... for each author.

    ``annotation`` is set for add/update (update replaces the whole annotation
    with the same id), ``annotation_id`` for undo, and ``clear_author`` for
    clear (None clears everyone's annotations).
    """

    kind: OpKind
    author: str
    seq: int
    annotation: Annotation | None = None
    annotation_id: str | None = None
    clear_author: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe dict form, as ``parse_op`` accepts it."""
        data: dict[str, Any] = {"op": self.kind.value, "author": self.author}
        data["seq"] = self.seq
        if self.annotation is not None:
            data["annotation"] = self.annotation.to_dict()
        if self.kind is OpKind.UNDO:
            data["id"] = self.annotation_id
        if self.kind is OpKind.CLEAR:
            data["target_author"] = self.clear_author
        return data


_OP_FIELDS: dict[OpKind, tuple[frozenset[str], frozenset[str]]] = {
    OpKind.ADD: (frozenset({"op", "author", "seq", "annotation"}), frozenset()),
    OpKind.UPDATE: (frozenset({"op", "author", "seq", "annotation"}), frozenset()),
    OpKind.UNDO: (frozenset({"op", "author", "seq", "id"}), frozenset()),
    OpKind.CLEAR: (frozenset({"op", "author", "seq"}), frozenset({"target_author"})),
}


def parse_op(data: object) -> Op:
    """Validate one operation dict; raise ``AnnotationError`` on anything off."""
    obj = _object(data, "operation")
    name = obj.get("op")
    if not isinstance(name, str) or name not in OpKind._value2member_map_:
        raise AnnotationError("bad_op", f"unknown op {name!r}")
    kind = OpKind(name)
    _check_fields(obj, *_OP_FIELDS[kind])
    author = _author(obj["author"])
    seq = _integer(obj["seq"], "seq", 1, _MAX_EPOCH_MS)
    if kind in (OpKind.ADD, OpKind.UPDATE):
        annotation = Annotation.from_dict(obj["annotation"])
        if annotation.author != author:
            raise AnnotationError("not_owner", "an annotation is sent by its author")
        return Op(kind, author, seq, annotation=annotation)
    if kind is OpKind.UNDO:
        return Op(kind, author, seq, annotation_id=_annotation_id(obj["id"]))
    target = obj.get("target_author")
    clear_author = None if target is None else _author(target, "target_author")
    return Op(kind, author, seq, clear_author=clear_author)


# -- the folded state --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Visible:
    """An annotation to draw at some media time, with its fade opacity 0..1."""

    annotation: Annotation
    opacity: float


@dataclass(frozen=True, slots=True)
class AnnotationState:
    """The annotation set after an ordered run of operations (an immutable value).

    ``apply`` returns a new state, so the compositor thread can keep drawing
    one snapshot while another thread folds in the next operation; swapping a
    reference is atomic. ``annotations`` keeps drawing order (oldest first; an
    update keeps its place). ``last_seq`` is the last applied ``seq`` per
    author.
    """

    annotations: Mapping[str, Annotation] = field(default_factory=dict)
    last_seq: Mapping[str, int] = field(default_factory=dict)
    version: int = 0

    def apply(self, op: Op) -> AnnotationState:
        """Fold ``op`` in; a replay (``seq`` already applied) returns ``self``.

        Raise ``AnnotationError`` with ``out_of_order`` when ``seq`` skips ahead
        (the receiver should backfill the gap), and with ``unknown_annotation``,
        ``duplicate_annotation``, ``not_owner`` or ``too_many_annotations`` when
        the op cannot apply. A refused op changes nothing, its ``seq``
        included, so the sender may reuse the number. Undoing an id that is
        already gone is a no-op that consumes its ``seq``.
        """
        last = self.last_seq.get(op.author, 0)
        if op.seq <= last:
            return self
        if op.seq != last + 1:
            raise AnnotationError(
                "out_of_order",
                f"{op.author}: expected seq {last + 1}, got {op.seq}",
            )
        annotations = dict(self.annotations)
        if op.kind in (OpKind.ADD, OpKind.UPDATE) and op.annotation is None:
            raise AnnotationError("bad_op", f"{op.kind.value} needs an annotation")
        if op.kind is OpKind.UNDO and op.annotation_id is None:
            raise AnnotationError("bad_op", "undo needs an annotation id")
        if op.kind is OpKind.ADD and op.annotation is not None:
            if op.annotation.id in annotations:
                raise AnnotationError("duplicate_annotation", "id already exists")
            if len(annotations) >= MAX_ANNOTATIONS:
                raise AnnotationError(
                    "too_many_annotations", f"at most {MAX_ANNOTATIONS} at once"
                )
            annotations[op.annotation.id] = op.annotation
        elif op.kind is OpKind.UPDATE and op.annotation is not None:
            self._owned(op.annotation.id, op.author, must_exist=True)
            annotations[op.annotation.id] = op.annotation
        elif op.kind is OpKind.UNDO and op.annotation_id is not None:
            if self._owned(op.annotation_id, op.author, must_exist=False):
                del annotations[op.annotation_id]
        else:
            annotations = {
                key: a
                for key, a in annotations.items()
                if op.clear_author is not None and a.author != op.clear_author
            }
        last_seq = {**self.last_seq, op.author: op.seq}
        return replace(
            self, annotations=annotations, last_seq=last_seq, version=self.version + 1
        )

    def _owned(self, annotation_id: str, author: str, *, must_exist: bool) -> bool:
        existing = self.annotations.get(annotation_id)
        if existing is None:
            if must_exist:
                raise AnnotationError(
                    "unknown_annotation", "no annotation with that id"
                )
            return False
        if existing.author != author:
            raise AnnotationError("not_owner", "only its author may change it")
        return True

    def apply_all(self, ops: list[Op] | tuple[Op, ...]) -> AnnotationState:
        """Fold a run of operations in order (stops at the first refusal)."""
        state = self
        for op in ops:
            state = state.apply(op)
        return state

    def visible_at(self, t: float) -> tuple[Visible, ...]:
        """Annotations with non-zero opacity at media time ``t`` (s), drawing order."""
        out = []
        for annotation in self.annotations.values():
            opacity = annotation.opacity_at(t)
            if opacity > 0.0:
                out.append(Visible(annotation, opacity))
        return tuple(out)
