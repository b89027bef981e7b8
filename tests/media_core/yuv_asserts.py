"""Tolerance helpers and canvas builders for pixel tests of the overlay code."""

from __future__ import annotations

import av
import numpy as np

from media_core.canvas import YuvCanvas

GREY = (100, 120, 140)


def grey_canvas(width: int, height: int, yuv: tuple[int, int, int] = GREY) -> YuvCanvas:
    """A contiguous canvas filled with one Y/U/V colour."""
    canvas = YuvCanvas.blank(width, height)
    paint(canvas, yuv)
    return canvas


def padded_frame(
    width: int, height: int, yuv: tuple[int, int, int] = GREY
) -> tuple[av.VideoFrame, YuvCanvas]:
    """A real yuv420p frame whose line sizes exceed its width, and its canvas."""
    frame = av.VideoFrame(width, height, "yuv420p")
    assert frame.planes[0].line_size > width
    for plane in frame.planes:
        np.frombuffer(plane, np.uint8)[:] = 7  # the padding gets a marker value
    canvas = YuvCanvas.from_frame(frame)
    paint(canvas, yuv)
    return frame, canvas


def paint(canvas: YuvCanvas, yuv: tuple[int, int, int]) -> None:
    """Fill all three planes."""
    canvas.y[:] = yuv[0]
    canvas.u[:] = yuv[1]
    canvas.v[:] = yuv[2]


def snapshot(canvas: YuvCanvas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of the three planes."""
    return canvas.y.copy(), canvas.u.copy(), canvas.v.copy()


def changed(
    before: tuple[np.ndarray, np.ndarray, np.ndarray], canvas: YuvCanvas
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks of the pixels that differ from ``before``, per plane."""
    return (
        before[0] != canvas.y,
        before[1] != canvas.u,
        before[2] != canvas.v,
    )


def assert_close(actual: object, expected: object, tol: float = 1.0) -> None:
    """Every element within ``tol`` of the expectation (uint8 safe)."""
    a = np.asarray(actual, np.float64)
    e = np.asarray(expected, np.float64)
    diff = np.abs(a - e)
    assert diff.size == 0 or diff.max() <= tol, f"max error {diff.max()} > {tol}"


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` (exclusive ends) of the true pixels, or None."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1
