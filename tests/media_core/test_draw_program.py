"""Flattened replay (``Program``) against painting shapes one by one."""

from __future__ import annotations

import numpy as np
import pytest

from media_core.canvas import YuvCanvas
from media_core.draw import (
    BLACK,
    Arrow,
    Circle,
    Colour,
    Line,
    Polyline,
    Rect,
    ShapeLayer,
    Text,
    draw,
)
from tests.media_core.yuv_asserts import padded_frame


def _random_shapes(rng: np.random.Generator, width: int, height: int) -> list:
    """Overlapping opaque and translucent shapes of every kind, some off-canvas."""

    def point() -> tuple[float, float]:
        return float(rng.uniform(-20, width + 20)), float(rng.uniform(-20, height + 20))

    shapes = []
    for _ in range(14):
        alpha = int(rng.choice([255, 255, 230, 128, 40]))
        colour = Colour.rgb(*(int(c) for c in rng.integers(0, 256, 3)), alpha)
        size = float(rng.uniform(1, 9))
        kind = int(rng.integers(0, 6))
        if kind == 0:
            shapes.append(Line(point(), point(), colour, size))
        elif kind == 1:
            shapes.append(Arrow(point(), point(), colour, size))
        elif kind == 2:
            filled = bool(rng.integers(0, 2))
            radius = float(rng.uniform(2, height / 3))
            shapes.append(Circle(point(), radius, colour, size, filled))
        elif kind == 3:
            points = tuple(point() for _ in range(5))
            shapes.append(Polyline(points, colour, size, closed=True))
        elif kind == 4:
            x, y = point()
            outline = BLACK if rng.integers(0, 2) else None
            shapes.append(
                Text("SpO2 97", x, y, float(rng.uniform(8, 40)), colour, outline)
            )
        else:
            (x0, y0), (x1, y1) = point(), point()
            shapes.append(Rect(x0, y0, x1, y1, colour))
    return shapes


def _textured(canvas: YuvCanvas, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for plane in (canvas.y, canvas.u, canvas.v):
        plane[:] = rng.integers(0, 256, plane.shape)


def _unaligned(width: int, height: int, shift: int) -> YuvCanvas:
    """Planes starting ``shift`` bytes past an aligned address, with row padding."""
    stride, cw, ch = width + 7, (width + 1) // 2, (height + 1) // 2
    luma = np.zeros(stride * height + 64, np.uint8)[shift:]
    chroma = [np.zeros((cw + 5) * ch + 64, np.uint8)[shift + k :] for k in (1, 2)]
    return YuvCanvas(
        np.lib.stride_tricks.as_strided(luma, (height, width), (stride, 1)),
        *(np.lib.stride_tricks.as_strided(c, (ch, cw), (cw + 5, 1)) for c in chroma),
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("width", "height"), [(150, 90), (161, 91)])
def test_flattened_replay_equals_painting_in_order(
    seed: int, width: int, height: int
) -> None:
    """Overlapping, translucent and clipped shapes replay to exactly the pixels
    of drawing them one by one, twice over (replay onto its own output), on
    padded and unaligned planes alike."""
    shapes = _random_shapes(np.random.default_rng(seed), width, height)
    reference = YuvCanvas.blank(width, height)
    _textured(reference, seed)
    for _ in range(2):
        for shape in shapes:
            draw(reference, shape)
    _, padded = padded_frame(width, height)
    for canvas in (padded, *(_unaligned(width, height, s) for s in (0, 3, 9))):
        _textured(canvas, seed)
        layer = ShapeLayer(shapes)
        layer.draw(canvas, 0.0)
        layer.draw(canvas, 1.0)
        for mine, ref in zip(
            (canvas.y, canvas.u, canvas.v),
            (reference.y, reference.u, reference.v),
            strict=True,
        ):
            assert np.array_equal(mine, ref)


def test_replay_leaves_row_padding_alone() -> None:
    """Block writes never spill into a padded frame's line padding."""
    frame, canvas = padded_frame(161, 91)
    thick = [Line((0.0, y), (160.0, y), Colour.rgb(255, 0, 0), 9) for y in (5.0, 50)]
    ShapeLayer([*thick, Circle((150.0, 80.0), 30.0, Colour.rgb(0, 0, 255), 12)]).draw(
        canvas, 0.0
    )
    assert (canvas.y[:, -1] != 100).any()
    for plane in frame.planes:
        rows = np.frombuffer(plane, np.uint8)[: plane.line_size * plane.height]
        padding = rows.reshape(plane.height, plane.line_size)[:, plane.width :]
        assert (padding == 7).all()
