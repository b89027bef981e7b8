"""Builders of annotation dicts and operations for the telestration tests."""

from __future__ import annotations

import uuid
from typing import Any

from surgery_guidance.telestration.schema import Annotation, Op, parse_op

POINTS: dict[str, list[list[float]]] = {
    "arrow": [[0.25, 0.5], [0.75, 0.5]],
    "circle": [[0.5, 0.5], [0.6, 0.5]],
    "freehand": [[0.1, 0.1], [0.2, 0.15], [0.3, 0.1]],
    "text": [[0.4, 0.4]],
    "incision": [[0.2, 0.6], [0.8, 0.6]],
    "target": [[0.5, 0.5]],
}


def annotation_dict(kind: str = "arrow", n: int = 1, **over: Any) -> dict[str, Any]:
    """A valid annotation dict; ``n`` picks a deterministic id."""
    data: dict[str, Any] = {
        "id": str(uuid.UUID(int=n)),
        "kind": kind,
        "author": "mentor-1",
        "colour": "#ff0000",
        "points": POINTS[kind],
        "frame_time": 10.0,
        "created_at_ms": 1_795_000_000_000,
    }
    if kind == "text":
        data["text"] = "Cut here"
    data.update(over)
    return data


def annotation(kind: str = "arrow", n: int = 1, **over: Any) -> Annotation:
    """A validated annotation."""
    return Annotation.from_dict(annotation_dict(kind, n, **over))


def add(seq: int, kind: str = "arrow", n: int = 1, **over: Any) -> Op:
    """An add operation by the annotation's author."""
    data = annotation_dict(kind, n, **over)
    return parse_op(
        {"op": "add", "author": data["author"], "seq": seq, "annotation": data}
    )
