"""Drawing primitives straight into a ``YuvCanvas``, in place.

Each shape is a frozen description in luma pixel coordinates (origin at the
top-left pixel's centre, y down). ``compile(width, height)`` rasterises it
once for a canvas size; the result's ``apply(canvas)`` paints it and can be
replayed on every frame. The module-level functions do both for one-off use.

Shapes partly off the canvas draw their visible part; shapes wholly off it,
or with NaN/inf coordinates, compile to None and draw nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from media_core.canvas import YuvCanvas
from media_core.draw.colour import Colour
from media_core.draw.raster import (
    MAX_REACH,
    SHIFT,
    Coverage,
    Fix,
    Point,
    clip_segment,
    finite,
    place,
    render,
    segment_runs,
)
from media_core.draw.stamp import Compiled, FlatCanvas, RectFill, Stamp
from media_core.draw.text import text_masks

logger = logging.getLogger(__name__)


class Shape(Protocol):
    """A drawable description that rasterises itself for one canvas size."""

    def compile(self, width: int, height: int) -> Compiled | None:
        """Rasterise for a ``width x height`` canvas; None if nothing is visible."""


class Group:
    """Several compiled pieces painted in order (e.g. a text outline then its fill)."""

    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[Compiled]):
        self.parts = tuple(parts)

    def apply(self, canvas: YuvCanvas) -> None:
        """Paint every part in order."""
        self.paint(FlatCanvas.of(canvas))

    def paint(self, flat: FlatCanvas) -> None:
        """Paint every part in order onto a flattened canvas."""
        for part in self.parts:
            part.paint(flat)


def _thickness(value: float) -> int:
    return max(1, round(value)) if math.isfinite(value) else 1


def _stamp(
    coverage: Coverage | None, colour: Colour, width: int, height: int
) -> Stamp | None:
    return None if coverage is None else Stamp(coverage, colour, width, height)


def _window(
    width: int, height: int, margin: float
) -> tuple[float, float, float, float]:
    return (-margin, -margin, width - 1 + margin, height - 1 + margin)


def _inside(point: Point, window: tuple[float, float, float, float]) -> bool:
    x0, y0, x1, y1 = window
    return x0 <= point[0] <= x1 and y0 <= point[1] <= y1


@dataclass(frozen=True, slots=True)
class Rect:
    """Filled rectangle ``[x0, x1) x [y0, y1)`` in whole luma pixels (not smoothed)."""

    x0: float
    y0: float
    x1: float
    y1: float
    colour: Colour

    def compile(self, width: int, height: int) -> Compiled | None:
        """Clip to the canvas; None if nothing is visible."""
        if not finite(self.x0, self.y0, self.x1, self.y1) or self.colour.alpha <= 0:
            return None
        xa, xb = sorted((self.x0, self.x1))
        ya, yb = sorted((self.y0, self.y1))
        x0, x1 = max(0, round(max(xa, -1.0))), min(width, round(min(xb, width + 1.0)))
        y0, y1 = max(0, round(max(ya, -1.0))), min(height, round(min(yb, height + 1.0)))
        if x0 >= x1 or y0 >= y1:
            return None
        return RectFill(x0, y0, x1, y1, self.colour, width, height)


@dataclass(frozen=True, slots=True)
class Polyline:
    """Anti-aliased open or closed polyline, ``thickness`` luma pixels wide.

    Non-finite points are dropped and break the line into separate pieces.
    """

    points: tuple[Point, ...]
    colour: Colour
    thickness: float = 1.0
    closed: bool = False

    def compile(self, width: int, height: int) -> Compiled | None:
        """Rasterise the visible part; None if nothing is visible."""
        runs = segment_runs(self.points)
        if self.closed and len(runs) == 1 and len(runs[0]) > 2:
            runs[0].append(runs[0][0])
        thick = _thickness(self.thickness)
        window = _window(width, height, thick + 8.0)
        pieces: list[list[Point]] = []
        for run in runs:
            if len(run) == 1:
                run = [run[0], run[0]]
            if all(_inside(p, window) for p in run):
                pieces.append(run)
                continue
            # Far-away points would overflow OpenCV's fixed point: clip each segment.
            for a, b in zip(run, run[1:], strict=False):
                clipped = clip_segment(a, b, *window)
                if clipped is not None:
                    pieces.append(list(clipped))
        return _stamp(_stroke(pieces, thick, width, height), self.colour, width, height)


def _stroke(
    pieces: list[list[Point]], thick: int, width: int, height: int
) -> Coverage | None:
    if not pieces:
        return None
    xs = [p[0] for piece in pieces for p in piece]
    ys = [p[1] for piece in pieces for p in piece]
    half = thick / 2.0
    bounds = (min(xs) - half, min(ys) - half, max(xs) + half, max(ys) + half)

    def paint(mask: np.ndarray, fix: Fix) -> None:
        pts = [np.array([fix(p) for p in piece], np.int32) for piece in pieces]
        cv2.polylines(mask, pts, False, 255, thick, cv2.LINE_AA, SHIFT)

    return render(width, height, bounds, paint)


@dataclass(frozen=True, slots=True)
class Line:
    """Anti-aliased straight segment ``thickness`` luma pixels wide."""

    p0: Point
    p1: Point
    colour: Colour
    thickness: float = 1.0

    def compile(self, width: int, height: int) -> Compiled | None:
        """Rasterise the visible part; None if nothing is visible."""
        return Polyline((self.p0, self.p1), self.colour, self.thickness).compile(
            width, height
        )


@dataclass(frozen=True, slots=True)
class Arrow:
    """A line from ``tail`` to ``tip`` with a filled triangular head at ``tip``.

    ``head`` is the head length in luma pixels; by default it scales with the
    thickness.
    """

    tail: Point
    tip: Point
    colour: Colour
    thickness: float = 2.0
    head: float | None = None

    def compile(self, width: int, height: int) -> Compiled | None:
        """Rasterise the visible part; None if nothing is visible."""
        if not finite(*self.tail, *self.tip):
            return None
        thick = _thickness(self.thickness)
        length = self.head if self.head is not None else 4.0 * thick + 8.0
        if not math.isfinite(length) or length <= 0:
            length = 4.0 * thick + 8.0
        (x0, y0), (x1, y1) = self.tail, self.tip
        span = math.hypot(x1 - x0, y1 - y0)
        if span == 0.0:
            return Line(self.tail, self.tip, self.colour, thick).compile(width, height)
        ux, uy = (x1 - x0) / span, (y1 - y0) / span
        length = min(length, span)
        # The shaft stops inside the head so its square end never pokes past the tip.
        base = (x1 - ux * length * 0.7, y1 - uy * length * 0.7)
        window = _window(width, height, thick + 8.0)
        pieces = []
        shaft = clip_segment(self.tail, base, *window)
        if shaft is not None:
            pieces.append(list(shaft))
        head: list[Point] = []
        if _inside(self.tip, _window(width, height, length + 4.0)):
            bx, by = x1 - ux * length, y1 - uy * length
            half = 0.55 * length + thick / 2.0
            head = [
                (x1, y1),
                (bx - uy * half, by + ux * half),
                (bx + uy * half, by - ux * half),
            ]
        points = [p for piece in pieces for p in piece] + head
        if not points:
            return None
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        pad = thick / 2.0
        bounds = (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)

        def paint(mask: np.ndarray, fix: Fix) -> None:
            for piece in pieces:
                pts = np.array([fix(p) for p in piece], np.int32)
                cv2.polylines(mask, [pts], False, 255, thick, cv2.LINE_AA, SHIFT)
            if head:
                tri = np.array([fix(p) for p in head], np.int32)
                cv2.fillPoly(mask, [tri], 255, cv2.LINE_AA, SHIFT)

        coverage = render(width, height, bounds, paint)
        return _stamp(coverage, self.colour, width, height)


@dataclass(frozen=True, slots=True)
class Circle:
    """Anti-aliased circle outline ``thickness`` pixels wide, or a filled disc.

    Circles whose centre or radius lies more than ``MAX_REACH`` pixels away
    are not drawn (they cannot be meaningful overlay geometry).
    """

    centre: Point
    radius: float
    colour: Colour
    thickness: float = 2.0
    filled: bool = False

    def compile(self, width: int, height: int) -> Compiled | None:
        """Rasterise the visible part; None if nothing is visible."""
        (cx, cy), r = self.centre, self.radius
        if not finite(cx, cy, r) or r < 0:
            return None
        reach = MAX_REACH + max(width, height)
        if abs(cx) > reach or abs(cy) > reach or r > MAX_REACH:
            return None
        thick = _thickness(self.thickness)
        outer = r + (0.0 if self.filled else thick / 2.0)
        bounds = (cx - outer, cy - outer, cx + outer, cy + outer)

        def paint(mask: np.ndarray, fix: Fix) -> None:
            centre = fix((cx, cy))
            radius = round(r * (1 << SHIFT))
            stroke = -1 if self.filled else thick
            cv2.circle(mask, centre, radius, 255, stroke, cv2.LINE_AA, SHIFT)

        coverage = render(width, height, bounds, paint)
        return _stamp(coverage, self.colour, width, height)


@dataclass(frozen=True, slots=True)
class Text:
    """A string with cap height ``height`` px; ``(x, y)`` is its box's top-left.

    The box includes a small margin (and the outline, if any). An ``outline``
    colour draws a ``outline_px``-wide halo under the glyphs for legibility.
    """

    string: str
    x: float
    y: float
    height: float
    colour: Colour
    outline: Colour | None = None
    outline_px: float | None = None

    def compile(self, width: int, height: int) -> Compiled | None:
        """Rasterise the visible part; None if nothing is visible."""
        if not self.string or not finite(self.x, self.y, self.height):
            return None
        size = round(min(self.height, 4.0 * max(width, height)))
        if size < 1:
            return None
        ring_px = 0
        if self.outline is not None:
            default = max(1.0, size / 10.0)
            ring_px = _thickness(self.outline_px if self.outline_px else default)
        fill, ring = text_masks(self.string, size, ring_px)
        x, y = round(self.x), round(self.y)
        parts: list[Compiled] = []
        if self.outline is not None:
            halo = _stamp(place(ring, x, y, width, height), self.outline, width, height)
            if halo is not None:
                parts.append(halo)
        glyphs = _stamp(place(fill, x, y, width, height), self.colour, width, height)
        if glyphs is not None:
            parts.append(glyphs)
        return Group(parts) if parts else None


def draw(canvas: YuvCanvas, shape: Shape) -> None:
    """Rasterise ``shape`` for this canvas and paint it once."""
    compiled = shape.compile(canvas.width, canvas.height)
    if compiled is not None:
        compiled.apply(canvas)


def fill_rect(
    canvas: YuvCanvas, x0: float, y0: float, x1: float, y1: float, colour: Colour
) -> None:
    """Fill (or blend, if translucent) ``[x0, x1) x [y0, y1)``."""
    draw(canvas, Rect(x0, y0, x1, y1, colour))


def line(
    canvas: YuvCanvas, p0: Point, p1: Point, colour: Colour, thickness: float = 1.0
) -> None:
    """Draw an anti-aliased segment."""
    draw(canvas, Line(p0, p1, colour, thickness))


def arrow(
    canvas: YuvCanvas,
    tail: Point,
    tip: Point,
    colour: Colour,
    thickness: float = 2.0,
    head: float | None = None,
) -> None:
    """Draw an arrow from ``tail`` to ``tip``."""
    draw(canvas, Arrow(tail, tip, colour, thickness, head))


def circle(
    canvas: YuvCanvas,
    centre: Point,
    radius: float,
    colour: Colour,
    thickness: float = 2.0,
    filled: bool = False,
) -> None:
    """Draw a circle outline, or a disc if ``filled``."""
    draw(canvas, Circle(centre, radius, colour, thickness, filled))


def polyline(
    canvas: YuvCanvas,
    points: Sequence[Point],
    colour: Colour,
    thickness: float = 1.0,
    closed: bool = False,
) -> None:
    """Draw an anti-aliased polyline."""
    draw(canvas, Polyline(tuple(points), colour, thickness, closed))


def text(
    canvas: YuvCanvas,
    string: str,
    origin: Point,
    colour: Colour,
    height: float,
    outline: Colour | None = None,
) -> None:
    """Draw ``string``, box top-left at ``origin``, cap height ``height`` px."""
    draw(canvas, Text(string, origin[0], origin[1], height, colour, outline))
