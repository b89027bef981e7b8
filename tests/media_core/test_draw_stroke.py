"""The compiled trace stroke (``_stroke.c``): coverage, joins, clipping, bounds."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from media_core.canvas import YuvCanvas
from media_core.draw import Colour, native

CI = os.environ.get("CI", "").lower() == "true"

if native.AVAILABLE:
    from media_core.draw import _stroke
else:
    _stroke = None

BACK = (20, 128, 128)
INK = (200, 90, 160)
YUV = bytes(INK)


@pytest.fixture
def stroker() -> Iterator[Any]:
    """The compiled module; skipped where it is not built, failed under CI."""
    if _stroke is None:
        if CI:
            pytest.fail("CI=true but media_core.draw._stroke is not importable")
        pytest.skip("compiled stroke not built")
    yield _stroke


def _canvas(width: int = 100, height: int = 100) -> YuvCanvas:
    canvas = YuvCanvas.blank(width, height)
    canvas.y[:], canvas.u[:], canvas.v[:] = BACK
    return canvas


def _points(*xy: tuple[float, float]) -> np.ndarray:
    return (np.array(xy, np.float64) * 16).astype(np.int32)


def _blend(under: int, over: int, alpha: int) -> int:
    return (under * (255 - alpha) + over * alpha + 127) // 255


def _draw(stroker: Any, canvas: YuvCanvas, points: np.ndarray, thick: int = 6) -> None:
    stroker.stroke(canvas.y, canvas.u, canvas.v, points, YUV, thick)


def _alpha(distance: float, thick: int = 6) -> int:
    """The kernel's coverage: full within half the thickness, a 1-px ramp."""
    c = min(1.0, max(0.0, thick / 2 + 1 - distance))
    return 255 if c >= 1 else int(c * 255 + 0.5)


def test_horizontal_stroke_covers_its_width_with_soft_edges_and_round_caps(
    stroker: Any,
) -> None:
    """Six pixels wide: full colour within 3 px of the line, half at 3.5 px,
    nothing at 4.5 px; round caps past the ends."""
    canvas = _canvas()
    _draw(stroker, canvas, _points((10, 50.5), (90, 50.5)))
    half = _blend(BACK[0], INK[0], 128)
    assert canvas.y[45:57, 50].tolist() == [20, 20, half, *[200] * 6, half, 20, 20]
    # Row 50 is half a pixel off the line: distance to the end points.
    ends = ((6, 10), (7, 10), (93, 90), (94, 90))
    caps = [_blend(BACK[0], INK[0], _alpha(math.hypot(x - e, 0.5))) for x, e in ends]
    assert canvas.y[50, [6, 7, 93, 94]].tolist() == caps
    assert (caps[0], caps[3], caps[1] > 190) == (20, 20, True)
    # Chroma rows 24 and 25 sit under fully covered luma; row 23 under one
    # untouched luma row (46) and one half covered (47): mean coverage 256/1020.
    assert (canvas.u[24:26, 25].tolist(), canvas.v[24:26, 25].tolist()) == (
        [90, 90],
        [160, 160],
    )
    partial = (128 * (1020 - 256) + 90 * 256 + 510) // 1020
    assert (int(canvas.u[23, 25]), int(canvas.u[22, 25])) == (partial, 128)


def test_joins_blend_once(stroker: Any) -> None:
    """A trace that doubles back over itself leaves exactly the pixels of one
    pass: coverage is the largest over segments, never blended twice."""
    once, twice = _canvas(), _canvas()
    _draw(stroker, once, _points((20, 30), (70, 60)))
    _draw(stroker, twice, _points((20, 30), (70, 60), (20, 30), (70, 60)))
    assert np.array_equal(once.y, twice.y) and np.array_equal(once.u, twice.u)


def test_single_point_draws_a_round_dot(stroker: Any) -> None:
    canvas = _canvas()
    _draw(stroker, canvas, _points((40, 40)), thick=8)
    covered = np.argwhere(canvas.y == INK[0])
    assert covered.min(axis=0).tolist() == [36, 36]
    assert covered.max(axis=0).tolist() == [44, 44]
    assert int(canvas.y[36, 40]) == INK[0] and int(canvas.y[37, 37]) != INK[0]
    assert int(canvas.y[40, 40]) == INK[0] and int(canvas.y[34, 34]) == BACK[0]


def test_empty_points_draw_nothing(stroker: Any) -> None:
    canvas = _canvas()
    _draw(stroker, canvas, np.empty((0, 2), np.int32))
    assert (canvas.y == BACK[0]).all() and (canvas.u == BACK[1]).all()


@pytest.mark.parametrize(
    "points",
    [
        ((-50, 50), (150, 50)),
        ((50, -400), (50, 500)),
        ((-2.0e6, -2.0e6), (2.0e6, 2.0e6)),
        ((130, 130), (180, 190)),
        ((-1.3e8, 40), (1.3e8, 41)),
    ],
)
def test_strokes_are_clipped_to_the_planes(stroker: Any, points: tuple) -> None:
    """A view into a larger plane: only the view changes, whatever the points."""
    parent = _canvas(140, 140)
    view = YuvCanvas(
        parent.y[20:120, 20:120], parent.u[10:60, 10:60], parent.v[10:60, 10:60]
    )
    _draw(stroker, view, _points(*points))
    outside = parent.y.copy()
    outside[20:120, 20:120] = BACK[0]
    chroma = parent.u.copy()
    chroma[10:60, 10:60] = BACK[1]
    assert (outside == BACK[0]).all() and (chroma == BACK[1]).all()


def test_padded_rows_stroke_like_contiguous_ones(stroker: Any) -> None:
    """Planes whose rows are padded (stride beyond the width) get the same
    pixels as contiguous ones, and the padding is untouched."""
    plain = _canvas(90, 70)
    wide = _canvas(128, 70)
    padded = YuvCanvas(wide.y[:, :90], wide.u[:, :45], wide.v[:, :45])
    points = _points((5, 60), (30, 5), (45, 50), (88, 20))
    _draw(stroker, plain, points, thick=5)
    _draw(stroker, padded, points, thick=5)
    assert np.array_equal(plain.y, padded.y) and np.array_equal(plain.v, padded.v)
    assert (wide.y[:, 90:] == BACK[0]).all() and (wide.u[:, 45:] == BACK[1]).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: {**a, "points": a["points"].astype(np.float32)}, "int32"),
        (lambda a: {**a, "points": np.zeros((3, 3), np.int32)}, "int32"),
        (lambda a: {**a, "points": a["points"][::2]}, "contiguous"),
        (lambda a: {**a, "u": a["u"][:-1]}, "chroma"),
        (lambda a: {**a, "colour": b"\x01\x02"}, "3 bytes"),
        (lambda a: {**a, "thickness": 0}, "thickness"),
        (lambda a: {**a, "thickness": float("nan")}, "thickness"),
        (lambda a: {**a, "y": np.zeros((100, 100), np.uint16)}, "bytes"),
    ],
)
def test_bad_arguments_raise_and_write_nothing(
    stroker: Any, change: Any, message: str
) -> None:
    canvas = _canvas()
    args = {
        "y": canvas.y,
        "u": canvas.u,
        "v": canvas.v,
        "points": _points((10, 10), (60, 80), (90, 20), (30, 40)),
        "colour": YUV,
        "thickness": 6,
    }
    args = change(args)
    with pytest.raises((ValueError, BufferError), match=message):
        stroker.stroke(*args.values())
    assert (canvas.y == BACK[0]).all() and (canvas.u == BACK[1]).all()
    assert (canvas.v == BACK[2]).all()


def test_read_only_planes_are_refused(stroker: Any) -> None:
    canvas = _canvas()
    canvas.y.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        _draw(stroker, canvas, _points((10, 10), (60, 60)))


@pytest.mark.parametrize("thick", [2, 6])
def test_kernel_and_opencv_fallback_draw_the_same_trace(
    stroker: Any, monkeypatch: pytest.MonkeyPatch, thick: int
) -> None:
    """Where the kernel is not built, OpenCV strokes the traces: the same
    pixels within anti-aliasing (the solid cores match), chroma included, at
    the vitals' trace widths at 720p and 4K. (For odd widths OpenCV rounds
    up to the next even one; the kernel keeps the width asked for.)"""
    rng = np.random.default_rng(5)
    xs = np.linspace(4, 236, 120)
    ys = 40 + np.cumsum(rng.normal(0, 3, 120))
    pieces = [_points(*zip(xs, np.clip(ys, 5, 75), strict=True))]
    colour = Colour.rgb(0, 230, 118)
    drawn = []
    for enabled in (True, False):
        monkeypatch.setattr(native, "ENABLED", enabled)
        canvas = _canvas(240, 80)
        native.stroke(canvas, pieces, colour, thick)
        drawn.append(canvas)
    kernel, fallback = drawn
    solid = [
        np.abs(c.y.astype(int) - BACK[0]) > 0.75 * abs(colour.y - BACK[0])
        for c in drawn
    ]
    iou = (solid[0] & solid[1]).sum() / (solid[0] | solid[1]).sum()
    luma = np.abs(kernel.y.astype(int) - fallback.y).mean()
    chroma = np.abs(kernel.u.astype(int) - fallback.u).mean()
    assert iou > 0.85, iou
    assert luma < 3.0 and chroma < 3.0, (luma, chroma)
