"""Burn annotations into frames: the compositor's ``Layer`` for telestration.

``AnnotationLayer.draw(canvas, timestamp)`` turns the annotations visible at
``timestamp`` (media seconds) into ``media_core.draw`` shapes in the canvas's
luma pixel space, with their fade and tracking applied, and paints them
straight into the YUV planes.

Sizes scale with the frame: ``thickness`` and ``text_size`` are pixels of a
1080-line frame, so a 4K frame gets strokes twice as thick and 720p two
thirds. Each annotation is compiled once per (annotation, frame size, pixel
geometry, opacity step) and replayed on later frames, so an annotation that
neither moves nor fades costs only its replay; when the whole visible set is
unchanged the merged ``Program`` is replayed as well.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from media_core.canvas import YuvCanvas
from media_core.draw import (
    BLACK,
    Arrow,
    Circle,
    Colour,
    Compiled,
    FlatCanvas,
    Group,
    Polyline,
    Program,
    Shape,
    Text,
)
from surgery_guidance.telestration.geometry import (
    apply_homography,
    norm_to_pixels,
    simplify_rdp,
)
from surgery_guidance.telestration.schema import Annotation, AnnotationState, Kind
from surgery_guidance.telestration.tracking import TrackResult, TrackStatus

logger = logging.getLogger(__name__)

#: Sizes in the schema are pixels of a frame this many lines high.
REFERENCE_LINES = 1080
#: Seconds over which an annotation whose tracking was lost fades out.
LOST_FADE_S = 0.5
#: Opacity is quantised to this many steps so fades reuse compiled stamps.
OPACITY_STEPS = 32
#: Pixel geometry is quantised to 1/16 px, the drawing code's own precision.
_SUBPIXEL = 16
#: Freehand strokes are simplified to this tolerance (luma px) before drawing.
STROKE_TOLERANCE_PX = 0.35
_NAN = (math.nan, math.nan)

PixelPoints = np.ndarray  # (N, 2) float64 luma pixels, origin at a pixel centre


class Tracker(Protocol):
    """What the layer needs of a tracker (``tracking.AnnotationTracker``)."""

    def update(
        self, luma: np.ndarray, timestamp: float, annotations: Iterable[Annotation]
    ) -> None:
        """Feed one frame's full-resolution luma plane at media time ``timestamp``."""

    def result(self, annotation_id: str) -> TrackResult | None:
        """The latest transform (normalised drawing frame -> current frame)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    key: tuple[object, ...]
    compiled: Compiled | None


class AnnotationLayer:
    """Draws an ``AnnotationState`` onto frames (``media_core.layers.Layer``).

    ``tracker``, if given, is fed each frame's luma *before* anything is drawn
    on it, so put this layer first (bottom) in the compositor: other overlays
    would otherwise look like scenery to the tracker. Tracked annotations are
    moved by the tracker's current transform; once tracking is lost they fade
    out over ``lost_fade_s``. ``set_state`` may be called from any thread;
    ``draw`` runs on the compositor's thread only.
    """

    def __init__(
        self,
        state: AnnotationState | None = None,
        tracker: Tracker | None = None,
        *,
        lost_fade_s: float = LOST_FADE_S,
    ) -> None:
        self._state = state if state is not None else AnnotationState()
        self._tracker = tracker
        self._lost_fade_s = lost_fade_s
        self._lock = threading.Lock()
        self._cache: dict[str, _Entry] = {}
        self._program_keys: tuple[tuple[object, ...], ...] | None = None
        self._program: Program | None = None
        self._pending_keys: tuple[tuple[object, ...], ...] | None = None

    @property
    def state(self) -> AnnotationState:
        """The annotation set drawn from the next frame on."""
        return self._state

    def set_state(self, state: AnnotationState) -> None:
        """Swap in a new annotation set (thread-safe; from the next frame on)."""
        with self._lock:
            self._state = state

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        """Track, then paint the annotations visible at ``timestamp`` (media s)."""
        with self._lock:
            state = self._state
        if self._tracker is not None:
            tracked = [
                a
                for a in state.annotations.values()
                if a.tracked and a.opacity_at(timestamp) > 0.0
            ]
            self._tracker.update(canvas.y, timestamp, tracked)
        visible = self._visible(state, timestamp)
        entries = [self._entry(a, o, canvas.width, canvas.height) for a, o in visible]
        self._cache = {e_id: entry for e_id, entry in entries}
        keys = tuple(entry.key for _, entry in entries)
        pieces = [entry.compiled for _, entry in entries if entry.compiled is not None]
        if not pieces:
            return
        flat = FlatCanvas.of(canvas)
        if keys == self._program_keys and self._program is not None:
            self._program.paint(flat)
            return
        if keys == self._pending_keys:
            # Unchanged for two frames: worth merging into one program.
            self._program = Program(pieces, canvas.width, canvas.height)
            self._program_keys = keys
            self._program.paint(flat)
            return
        self._pending_keys = keys
        for piece in pieces:
            piece.paint(flat)

    # -- per annotation ----------------------------------------------------------

    def _visible(
        self, state: AnnotationState, timestamp: float
    ) -> list[tuple[Annotation, float]]:
        out = []
        for item in state.visible_at(timestamp):
            opacity = item.opacity * self._tracking_opacity(item.annotation, timestamp)
            if opacity > 0.0:
                out.append((item.annotation, opacity))
        return out

    def _tracking_opacity(self, annotation: Annotation, timestamp: float) -> float:
        if not annotation.tracked or self._tracker is None:
            return 1.0
        result = self._tracker.result(annotation.id)
        if result is None or result.status is TrackStatus.PENDING:
            return 1.0
        if result.status is not TrackStatus.LOST or result.lost_since is None:
            return 1.0
        if self._lost_fade_s <= 0:
            return 0.0
        return max(0.0, 1.0 - (timestamp - result.lost_since) / self._lost_fade_s)

    def _points(self, annotation: Annotation, width: int, height: int) -> PixelPoints:
        points = np.asarray(annotation.points, dtype=np.float64)
        if annotation.tracked and self._tracker is not None:
            result = self._tracker.result(annotation.id)
            if result is not None and result.status is not TrackStatus.PENDING:
                points = apply_homography(result.homography, points)
        return norm_to_pixels(points, width, height)

    def _entry(
        self, annotation: Annotation, opacity: float, width: int, height: int
    ) -> tuple[str, _Entry]:
        pixels = self._points(annotation, width, height)
        level = max(1, round(opacity * OPACITY_STEPS))
        with np.errstate(invalid="ignore"):
            grid = np.round(pixels * _SUBPIXEL)
        key = (annotation, width, height, grid.tobytes(), level)
        cached = self._cache.get(annotation.id)
        if cached is not None and cached.key == key:
            return annotation.id, cached
        snapped = grid / _SUBPIXEL
        colour = Colour.hex(annotation.colour).with_alpha(level / OPACITY_STEPS)
        shapes = annotation_shapes(annotation, snapped, colour, height)
        compiled = [c for c in (s.compile(width, height) for s in shapes) if c]
        piece: Compiled | None = None
        if len(compiled) == 1:
            piece = compiled[0]
        elif compiled:
            piece = Group(compiled)
        return annotation.id, _Entry(key, piece)


# -- shapes ------------------------------------------------------------------------


def annotation_shapes(
    annotation: Annotation, pixels: PixelPoints, colour: Colour, frame_height: int
) -> list[Shape]:
    """``media_core.draw`` shapes for one annotation at given luma pixel points.

    ``pixels`` are the annotation's points already mapped to the frame (and
    moved by tracking); ``frame_height`` scales thickness and text size.
    """
    scale = frame_height / REFERENCE_LINES
    thick = max(1.0, annotation.thickness * scale)
    pts = [(float(x), float(y)) for x, y in pixels]
    if not all(math.isfinite(v) for p in pts for v in p):
        return []
    kind = annotation.kind
    if kind is Kind.ARROW:
        return [Arrow(pts[0], pts[1], colour, thick)]
    if kind is Kind.CIRCLE:
        (cx, cy), (rx, ry) = pts
        return [Circle((cx, cy), math.hypot(rx - cx, ry - cy), colour, thick)]
    if kind is Kind.FREEHAND:
        stroke = simplify_rdp(pixels, STROKE_TOLERANCE_PX)
        return [Polyline(tuple(map(tuple, stroke.tolist())), colour, thick)]
    if kind is Kind.TEXT:
        outline = BLACK.with_alpha(colour.alpha)
        size = max(4.0, annotation.text_size * scale)
        x, y = pts[0]
        return [Text(annotation.text, x, y, size, colour, outline)]
    if kind is Kind.INCISION:
        return incision_shapes(pts, colour, thick)
    return target_shapes(pts[0], colour, thick, scale)


def incision_shapes(
    pts: Sequence[tuple[float, float]], colour: Colour, thick: float
) -> list[Shape]:
    """A dashed cut line with a short perpendicular tick at each end (pixels)."""
    dash, gap = 5.0 * thick + 4.0, 3.0 * thick + 3.0
    runs = dashes(pts, dash, gap)
    tick = 3.0 * thick + 4.0
    for (ax, ay), (bx, by) in ((pts[0], pts[1]), (pts[-1], pts[-2])):
        length = math.hypot(bx - ax, by - ay)
        if length == 0.0:
            continue
        nx, ny = -(by - ay) / length * tick, (bx - ax) / length * tick
        runs.append([(ax - nx, ay - ny), (ax + nx, ay + ny)])
    joined: list[tuple[float, float]] = []
    for run in runs:
        if joined:
            joined.append(_NAN)  # a NaN point breaks a Polyline into pieces
        joined.extend(run)
    return [Polyline(tuple(joined), colour, thick)] if joined else []


def dashes(
    pts: Sequence[tuple[float, float]], dash: float, gap: float
) -> list[list[tuple[float, float]]]:
    """Split a polyline (pixels) into dashes ``dash`` long, ``gap`` apart."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = [pts[0]]
    drawing, left = True, dash
    for (ax, ay), (bx, by) in zip(pts, pts[1:], strict=False):
        length = math.hypot(bx - ax, by - ay)
        pos = 0.0
        while length - pos > left:
            pos += left
            f = pos / length
            point = (ax + (bx - ax) * f, ay + (by - ay) * f)
            if drawing:
                current.append(point)
                runs.append(current)
            else:
                current = [point]
            drawing = not drawing
            left = dash if drawing else gap
        left -= length - pos
        if drawing:
            current.append((bx, by))
    if drawing and len(current) > 1:
        runs.append(current)
    return runs


def target_shapes(
    centre: tuple[float, float], colour: Colour, thick: float, scale: float
) -> list[Shape]:
    """An instrument target: ring, four ticks leaving the centre clear, a dot."""
    cx, cy = centre
    radius = 22.0 * scale + 2.0 * thick
    inner, outer = 0.45 * radius, 1.5 * radius
    ticks: list[tuple[float, float]] = []
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        if ticks:
            ticks.append(_NAN)
        ticks += [
            (cx + dx * inner, cy + dy * inner),
            (cx + dx * outer, cy + dy * outer),
        ]
    dot = max(1.5, 0.6 * thick)
    return [
        Circle(centre, radius, colour, thick),
        Polyline(tuple(ticks), colour, thick),
        Circle(centre, dot, colour, filled=True),
    ]
