"""Coordinate spaces, homographies and stroke simplification for annotations.

Two spaces are used throughout the package:

* **normalised** frame coordinates: floats with ``(0, 0)`` at the top-left
  *corner* of the picture and ``(1, 1)`` at its bottom-right corner, x right
  and y down. This is what a browser canvas laid over the ``<video>`` element
  produces (divide CSS pixels by the element's size), and it does not depend
  on the resolution the video happens to arrive at.
* **pixel** coordinates of a ``width x height`` luma plane, with ``(0, 0)`` at
  the *centre* of the top-left pixel (OpenCV's and ``media_core.draw``'s
  convention). So the picture spans ``[-0.5, width - 0.5]`` in x.

Hence ``x_px = x_norm * width - 0.5``. The mapping is exact for odd sizes and
lets points round-trip between frames of different resolutions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)

#: A point in normalised frame coordinates (0..1, x right, y down).
NormPoint = tuple[float, float]
#: A point in luma pixel coordinates (origin at the top-left pixel's centre).
PixelPoint = tuple[float, float]


def _as_points(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.size == 0:
        return array.reshape(0, 2)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"expected an (N, 2) array of points, got {array.shape}")
    return array


def norm_to_pixel_matrix(width: int, height: int) -> np.ndarray:
    """3x3 matrix taking normalised coordinates to pixels of ``width x height``."""
    return np.array(
        [[float(width), 0.0, -0.5], [0.0, float(height), -0.5], [0.0, 0.0, 1.0]]
    )


def pixel_to_norm_matrix(width: int, height: int) -> np.ndarray:
    """3x3 matrix taking pixels of ``width x height`` to normalised coordinates."""
    return np.array(
        [
            [1.0 / width, 0.0, 0.5 / width],
            [0.0, 1.0 / height, 0.5 / height],
            [0.0, 0.0, 1.0],
        ]
    )


def norm_to_pixels(
    points: np.ndarray | Sequence[Sequence[float]], width: int, height: int
) -> np.ndarray:
    """Normalised ``(N, 2)`` points to float64 pixel coordinates of the frame."""
    array = _as_points(points)
    return np.column_stack(
        (array[:, 0] * width - 0.5, array[:, 1] * height - 0.5)
    ).reshape(-1, 2)


def pixels_to_norm(
    points: np.ndarray | Sequence[Sequence[float]], width: int, height: int
) -> np.ndarray:
    """Pixel ``(N, 2)`` points of a ``width x height`` frame to normalised floats."""
    array = _as_points(points)
    return np.column_stack(
        ((array[:, 0] + 0.5) / width, (array[:, 1] + 0.5) / height)
    ).reshape(-1, 2)


def rescale_pixels(
    points: np.ndarray | Sequence[Sequence[float]],
    src: tuple[int, int],
    dst: tuple[int, int],
) -> np.ndarray:
    """Pixel points of a ``src=(width, height)`` frame to the same spot in ``dst``.

    This is the mapping ``cv2.resize`` uses between pixel centres.
    """
    return norm_to_pixels(pixels_to_norm(points, *src), *dst)


def apply_homography(
    matrix: np.ndarray, points: np.ndarray | Sequence[Sequence[float]]
) -> np.ndarray:
    """Apply a 3x3 homography to ``(N, 2)`` points (any one space to another).

    Points mapped to infinity (a zero projective denominator) come out as NaN,
    which the drawing code treats as a break rather than a wild line.
    """
    array = _as_points(points)
    h = np.asarray(matrix, dtype=np.float64)
    if h.shape != (3, 3):
        raise ValueError(f"expected a 3x3 homography, got {h.shape}")
    if array.shape[0] == 0:
        return array.copy()
    ones = np.ones((array.shape[0], 1))
    projected = np.hstack((array, ones)) @ h.T
    w = projected[:, 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = projected[:, :2] / w
    out[~np.isfinite(out).all(axis=1) | (np.abs(w[:, 0]) < 1e-12)] = np.nan
    return out


def homography_between_sizes(
    matrix_norm: np.ndarray, width: int, height: int
) -> np.ndarray:
    """A normalised->normalised homography expressed in pixels of one frame size."""
    return (
        norm_to_pixel_matrix(width, height)
        @ np.asarray(matrix_norm, dtype=np.float64)
        @ pixel_to_norm_matrix(width, height)
    )


def simplify_rdp(
    points: np.ndarray | Sequence[Sequence[float]], epsilon: float
) -> np.ndarray:
    """Ramer-Douglas-Peucker simplification of an open stroke.

    Keeps the end points and every point farther than ``epsilon`` (in the
    points' own units: pass pixels or normalised units consistently) from the
    chord of the kept neighbours. Iterative, so a 2000-point stroke cannot
    exhaust the recursion limit. Returns a new ``(M, 2)`` float64 array.
    """
    array = _as_points(points)
    n = array.shape[0]
    if n <= 2 or not epsilon > 0:
        return array.copy()
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        a, b = array[first], array[last]
        inner = array[first + 1 : last]
        chord = b - a
        length = float(np.hypot(*chord))
        if length == 0.0:
            dist = np.hypot(*(inner - a).T)
        else:
            cross = chord[0] * (inner[:, 1] - a[1]) - chord[1] * (inner[:, 0] - a[0])
            dist = np.abs(cross) / length
        index = int(np.argmax(dist))
        if dist[index] > epsilon:
            split = first + 1 + index
            keep[split] = True
            stack.append((first, split))
            stack.append((split, last))
    return array[keep]


def bounds(points: np.ndarray) -> tuple[float, float, float, float] | None:
    """``(xmin, ymin, xmax, ymax)`` of the finite points, or None if there are none."""
    array = _as_points(points)
    finite = array[np.isfinite(array).all(axis=1)]
    if finite.shape[0] == 0:
        return None
    lo, hi = finite.min(axis=0), finite.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])
