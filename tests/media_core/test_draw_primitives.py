"""Pixel tests of the YUV drawing primitives: positions, colours, blending."""

from __future__ import annotations

import numpy as np
import pytest

from media_core.draw import (
    BLACK,
    Colour,
    arrow,
    circle,
    fill_rect,
    line,
    polyline,
    rgb_to_yuv,
    text,
    text_size,
)
from tests.media_core.yuv_asserts import (
    GREY,
    assert_close,
    bounding_box,
    changed,
    grey_canvas,
    snapshot,
)

RED = Colour.rgb(255, 0, 0)
GREEN = Colour.rgb(0, 255, 0)


@pytest.mark.parametrize(
    ("rgb", "yuv"),
    [
        ((255, 255, 255), (235, 128, 128)),
        ((0, 0, 0), (16, 128, 128)),
        ((255, 0, 0), (81, 90, 240)),
        ((0, 255, 0), (145, 54, 34)),
        ((0, 0, 255), (41, 240, 110)),
        ((128, 128, 128), (126, 128, 128)),
    ],
)
def test_rgb_converts_to_bt601_limited_range(rgb: tuple, yuv: tuple) -> None:
    """RGB maps to the BT.601 studio-range Y/U/V that x264 and browsers assume."""
    assert rgb_to_yuv(*rgb) == yuv


def test_hex_colour_carries_alpha() -> None:
    """``#rrggbbaa`` sets opacity from the last byte."""
    colour = Colour.hex("#ff000080")
    assert (colour.y, colour.u, colour.v) == (81, 90, 240)
    assert colour.alpha == pytest.approx(128 / 255)


def test_opaque_rect_writes_exact_colour_inside_only() -> None:
    """An even-aligned opaque rectangle sets exact Y/U/V inside and nothing else."""
    canvas = grey_canvas(64, 48)
    before = snapshot(canvas)
    fill_rect(canvas, 10, 6, 30, 20, RED)
    assert (canvas.y[6:20, 10:30] == RED.y).all()
    assert (canvas.u[3:10, 5:15] == RED.u).all()
    assert (canvas.v[3:10, 5:15] == RED.v).all()
    dy, du, _ = changed(before, canvas)
    assert bounding_box(dy) == (10, 6, 30, 20)
    assert bounding_box(du) == (5, 3, 15, 10)


def test_translucent_rect_blends_with_alpha() -> None:
    """A translucent fill is ``under + (colour - under) * alpha`` per plane."""
    canvas = grey_canvas(32, 32)
    colour = Colour.rgb(0, 0, 255, 64)
    fill_rect(canvas, 4, 4, 20, 20, colour)
    a = 64 / 255
    assert_close(canvas.y[4:20, 4:20], GREY[0] + (colour.y - GREY[0]) * a)
    assert_close(canvas.u[2:10, 2:10], GREY[1] + (colour.u - GREY[1]) * a)
    assert_close(canvas.v[2:10, 2:10], GREY[2] + (colour.v - GREY[2]) * a)


def test_rect_on_odd_column_half_covers_chroma() -> None:
    """A rectangle starting on an odd column blends its first chroma column 50 %."""
    canvas = grey_canvas(32, 32)
    fill_rect(canvas, 5, 4, 12, 12, RED)
    assert (canvas.y[4:12, 5:12] == RED.y).all()
    assert (canvas.y[4:12, 4] == GREY[0]).all()
    assert_close(canvas.u[2:6, 2], (GREY[1] + RED.u) / 2)
    assert (canvas.u[2:6, 3:6] == RED.u).all()


def test_horizontal_line_covers_its_thickness() -> None:
    """A 3 px horizontal line fills rows y-1..y+1 between its ends."""
    canvas = grey_canvas(64, 48)
    before = snapshot(canvas)
    line(canvas, (10, 20), (50, 20), GREEN, thickness=3)
    assert (canvas.y[19:22, 14:46] == GREEN.y).all()
    box = bounding_box(changed(before, canvas)[0])
    assert box is not None
    x0, y0, x1, y1 = box
    assert 7 <= x0 <= 10 and 50 < x1 <= 54 and 17 <= y0 <= 19 and 22 <= y1 <= 24


def test_antialiased_edge_blends_partially() -> None:
    """A diagonal line's fringe pixels lie strictly between the two colours."""
    canvas = grey_canvas(64, 64)
    line(canvas, (5.0, 5.0), (60.0, 40.0), Colour.rgb(255, 255, 255), thickness=2)
    values = np.unique(canvas.y)
    assert ((values > GREY[0]) & (values < 235)).any()


def test_circle_outline_leaves_centre_untouched() -> None:
    """An outline paints the ring and leaves the centre alone."""
    canvas = grey_canvas(64, 64)
    circle(canvas, (32, 32), 20, RED, thickness=3)
    assert canvas.y[32, 52] == RED.y
    assert canvas.y[12, 32] == RED.y
    assert canvas.y[32, 32] == GREY[0]


def test_filled_circle_covers_disc() -> None:
    """A filled circle paints its centre and stays inside its radius."""
    canvas = grey_canvas(64, 64)
    before = snapshot(canvas)
    circle(canvas, (32, 32), 10, RED, filled=True)
    assert canvas.y[32, 32] == RED.y
    assert canvas.u[16, 16] == RED.u
    box = bounding_box(changed(before, canvas)[0])
    assert box is not None
    assert box[0] >= 21 and box[2] <= 44


def test_arrow_head_is_wider_than_shaft() -> None:
    """Columns near the tip are covered over more rows than mid-shaft columns."""
    canvas = grey_canvas(120, 64)
    arrow(canvas, (10, 32), (100, 32), RED, thickness=3, head=24)
    covered = canvas.y == RED.y
    assert covered[:, 40].sum() <= 5
    assert covered[:, 88].sum() >= 10
    assert canvas.y[32, 99] != GREY[0]


def test_closed_polyline_passes_through_vertices() -> None:
    """A closed polyline touches each vertex and leaves its interior empty."""
    canvas = grey_canvas(64, 64)
    points = [(10.0, 10.0), (50.0, 10.0), (30.0, 50.0)]
    polyline(canvas, points, RED, thickness=2, closed=True)
    for x, y in points:
        assert canvas.y[int(y), int(x)] != GREY[0]
    assert canvas.y[25, 30] == GREY[0]
    assert canvas.y[30, 20] != GREY[0]  # the closing edge


def test_text_draws_inside_its_box() -> None:
    """Text changes pixels only within the box ``text_size`` reports."""
    canvas = grey_canvas(200, 80)
    before = snapshot(canvas)
    text(canvas, "HR 72", (20, 10), Colour.rgb(255, 255, 255), 24)
    width, height = text_size("HR 72", 24)
    box = bounding_box(changed(before, canvas)[0])
    assert box is not None
    assert box[0] >= 20 and box[1] >= 10
    assert box[2] <= 20 + width and box[3] <= 10 + height
    assert (canvas.y == 235).sum() > 50


def test_text_outline_darkens_around_glyphs() -> None:
    """An outline paints dark pixels next to the glyphs."""
    canvas = grey_canvas(200, 80)
    text(canvas, "88", (20, 10), Colour.rgb(255, 255, 255), 30, outline=BLACK)
    assert (canvas.y == 235).any()
    assert (canvas.y == BLACK.y).any()


@pytest.mark.parametrize("height", [720, 2160])
def test_translucent_disc_keeps_its_alpha_at_any_size(height: int) -> None:
    """Coverage snapping never turns a 90 % opaque shape fully opaque."""
    canvas = grey_canvas(height * 16 // 9, height)
    colour = Colour.rgb(255, 255, 255, 230)
    circle(canvas, (100.0, 100.0), 40.0, colour, filled=True)
    a = 230 / 255
    assert_close(canvas.y[100, 100], GREY[0] + (235 - GREY[0]) * a)
    assert_close(canvas.v[50, 50], GREY[2] + (128 - GREY[2]) * a)
