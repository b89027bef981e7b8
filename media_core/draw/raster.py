"""Coverage masks: a shape rasterised over its own small, even-aligned box.

Coordinates are luma pixels with the origin at the top-left pixel's centre
(OpenCV's convention). Boxes are clipped to the canvas and aligned to even
luma coordinates so that each 2x2 block maps onto exactly one chroma sample;
on an odd-sized canvas a box may run one virtual pixel past the right or
bottom edge, which is what the last chroma sample covers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

Point = tuple[float, float]
# Maps a canvas point to OpenCV fixed-point coordinates inside a mask box.
Fix = Callable[[Point], tuple[int, int]]

# Fixed-point bits handed to OpenCV, so sub-pixel geometry stays anti-aliased.
SHIFT = 4
_ONE = 1 << SHIFT
# Beyond this distance from the canvas a circle is treated as not drawable:
# OpenCV works in 32-bit fixed point and such shapes are never meaningful.
MAX_REACH = 1 << 15


@dataclass(frozen=True, slots=True)
class Coverage:
    """Coverage 0..255 of a shape over the luma box at ``(x0, y0)`` (both even)."""

    x0: int
    y0: int
    mask: np.ndarray

    @property
    def height(self) -> int:
        """Box height in luma pixels (even)."""
        return int(self.mask.shape[0])

    @property
    def width(self) -> int:
        """Box width in luma pixels (even)."""
        return int(self.mask.shape[1])


def finite(*values: float) -> bool:
    """Whether every value is a finite number."""
    return all(math.isfinite(v) for v in values)


def even_box(
    width: int, height: int, xmin: float, ymin: float, xmax: float, ymax: float
) -> tuple[int, int, int, int] | None:
    """The even-aligned canvas box covering ``[xmin, xmax] x [ymin, ymax]``, or None."""
    # Two pixels of slack on each side hold the anti-aliased fringe.
    x0 = max(0, math.floor(xmin) - 2)
    y0 = max(0, math.floor(ymin) - 2)
    x1 = min(width, math.ceil(xmax) + 3)
    y1 = min(height, math.ceil(ymax) + 3)
    if x0 >= x1 or y0 >= y1:
        return None
    x0 -= x0 & 1
    y0 -= y0 & 1
    return x0, y0, x1 + (x1 & 1), y1 + (y1 & 1)


def render(
    width: int,
    height: int,
    bounds: tuple[float, float, float, float],
    paint: Callable[[np.ndarray, Fix], None],
) -> Coverage | None:
    """Rasterise ``paint(mask, fix)`` over the box of ``bounds``; None if off-canvas.

    ``fix`` maps a canvas point to OpenCV fixed-point coordinates in the box.
    """
    box = even_box(width, height, *bounds)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)

    def fix(point: Point) -> tuple[int, int]:
        return round((point[0] - x0) * _ONE), round((point[1] - y0) * _ONE)

    paint(mask, fix)
    return Coverage(x0, y0, mask) if mask.any() else None


def place(mask: np.ndarray, x: int, y: int, width: int, height: int) -> Coverage | None:
    """Put a ready-made mask with its top-left at ``(x, y)``, cropped to the canvas."""
    h, w = mask.shape
    cx0, cy0 = max(0, x), max(0, y)
    cx1, cy1 = min(width, x + w), min(height, y + h)
    if cx0 >= cx1 or cy0 >= cy1:
        return None
    bx0, by0 = cx0 - (cx0 & 1), cy0 - (cy0 & 1)
    bx1, by1 = cx1 + (cx1 & 1), cy1 + (cy1 & 1)
    box = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
    box[cy0 - by0 : cy1 - by0, cx0 - bx0 : cx1 - bx0] = mask[
        cy0 - y : cy1 - y, cx0 - x : cx1 - x
    ]
    return Coverage(bx0, by0, box) if box.any() else None


def clip_segment(
    p0: Point, p1: Point, xmin: float, ymin: float, xmax: float, ymax: float
) -> tuple[Point, Point] | None:
    """Liang-Barsky clip of a segment to a rectangle; None if it misses."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, x0 - xmin), (dx, xmax - x0), (-dy, y0 - ymin), (dy, ymax - y0)):
        if p == 0.0:
            if q < 0.0:
                return None
            continue
        r = q / p
        if p < 0.0:
            lo = max(lo, r)
        else:
            hi = min(hi, r)
        if lo > hi:
            return None
    return (x0 + lo * dx, y0 + lo * dy), (x0 + hi * dx, y0 + hi * dy)


def segment_runs(points: Sequence[Point]) -> list[list[Point]]:
    """Split a point list into runs of finite points (non-finite points break it)."""
    runs: list[list[Point]] = [[]]
    for x, y in points:
        if finite(x, y):
            runs[-1].append((float(x), float(y)))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]
