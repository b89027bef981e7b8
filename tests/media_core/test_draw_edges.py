"""Edge cases of the drawing primitives: clipping, odd sizes, padding, bad input."""

from __future__ import annotations

import math

import av
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
    circle,
    draw,
    fill_rect,
    line,
    polyline,
)
from media_core.errors import BadFrame
from tests.media_core.yuv_asserts import (
    GREY,
    bounding_box,
    changed,
    grey_canvas,
    padded_frame,
    snapshot,
)

RED = Colour.rgb(255, 0, 0)
NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("centre", "visible_col", "far_col"),
    [((-5.0, 24.0), 0, 63), ((68.0, 24.0), 63, 0)],
)
def test_circle_over_side_edge_draws_visible_part_without_wrapping(
    centre: tuple[float, float], visible_col: int, far_col: int
) -> None:
    """A circle over the left/right edge draws inside and never wraps around."""
    canvas = grey_canvas(64, 48)
    circle(canvas, centre, 12, RED, filled=True)
    assert (canvas.y[20:28, visible_col] == RED.y).all()
    assert (canvas.y[:, far_col] == GREY[0]).all()


@pytest.mark.parametrize(
    ("centre", "visible_row", "far_row"),
    [((32.0, -4.0), 0, 47), ((32.0, 51.0), 47, 0)],
)
def test_circle_over_top_bottom_edge_draws_visible_part(
    centre: tuple[float, float], visible_row: int, far_row: int
) -> None:
    """A circle over the top/bottom edge draws inside and never wraps around."""
    canvas = grey_canvas(64, 48)
    circle(canvas, centre, 12, RED, filled=True)
    assert (canvas.y[visible_row, 28:36] == RED.y).all()
    assert (canvas.y[far_row, :] == GREY[0]).all()


def test_rect_larger_than_canvas_fills_all() -> None:
    """A rectangle covering more than the canvas fills every pixel."""
    canvas = grey_canvas(33, 17)
    fill_rect(canvas, -100, -100, 1e6, 1e6, RED)
    assert (canvas.y == RED.y).all() and (canvas.v == RED.v).all()


def test_line_with_far_endpoints_draws_its_visible_chord() -> None:
    """A line from -1e9 to +1e9 through the canvas draws the visible part."""
    canvas = grey_canvas(64, 48)
    line(canvas, (-1e9, 20.0), (1e9, 20.0), RED, thickness=3)
    assert (canvas.y[20, :] == RED.y).all()
    assert (canvas.y[10, :] == GREY[0]).all()


@pytest.mark.parametrize(
    "shape",
    [
        Line((NAN, 3.0), (10.0, 10.0), RED),
        Line((0.0, 0.0), (INF, 10.0), RED),
        Arrow((0.0, 0.0), (NAN, NAN), RED),
        Circle((NAN, 10.0), 5.0, RED),
        Circle((10.0, 10.0), INF, RED),
        Rect(0.0, 0.0, NAN, 10.0, RED),
        Text("72", INF, 0.0, 12.0, RED),
        Polyline(((NAN, NAN), (INF, 1.0)), RED),
    ],
)
def test_non_finite_coordinates_draw_nothing(shape: object) -> None:
    """NaN or infinite geometry is ignored without raising."""
    canvas = grey_canvas(64, 48)
    before = snapshot(canvas)
    draw(canvas, shape)  # type: ignore[arg-type]
    assert not any(mask.any() for mask in changed(before, canvas))


def test_polyline_skips_nan_points_and_draws_the_rest() -> None:
    """A NaN point breaks a polyline; the finite pieces are still drawn."""
    canvas = grey_canvas(64, 48)
    points = [(2.0, 10.0), (20.0, 10.0), (NAN, 5.0), (40.0, 30.0), (60.0, 30.0)]
    polyline(canvas, points, RED, thickness=3)
    assert canvas.y[10, 10] == RED.y
    assert canvas.y[30, 50] == RED.y
    assert canvas.y[20, 30] == GREY[0]  # no segment across the gap


@pytest.mark.parametrize(
    "shape",
    [
        Circle((-50.0, -50.0), 10.0, RED),
        Line((100.0, 0.0), (200.0, 40.0), RED),
        Rect(64.0, 0.0, 90.0, 48.0, RED),
        Text("120", 0.0, 60.0, 20.0, RED),
        Arrow((-100.0, -5.0), (-10.0, -20.0), RED),
    ],
)
def test_shape_fully_outside_is_a_no_op(shape: object) -> None:
    """A shape entirely off the canvas compiles to nothing and changes nothing."""
    canvas = grey_canvas(64, 48)
    before = snapshot(canvas)
    assert shape.compile(64, 48) is None  # type: ignore[attr-defined]
    draw(canvas, shape)  # type: ignore[arg-type]
    assert not any(mask.any() for mask in changed(before, canvas))


def test_odd_sized_canvas_covers_last_chroma_sample() -> None:
    """On a 63x47 canvas a fill to the corner sets the last chroma sample fully."""
    canvas = grey_canvas(63, 47)
    assert canvas.u.shape == (24, 32)
    fill_rect(canvas, 50, 40, 63, 47, RED)
    assert canvas.u[23, 31] == RED.u
    assert canvas.v[23, 31] == RED.v
    assert canvas.y[46, 62] == RED.y


def test_circle_at_odd_corner_stays_in_bounds() -> None:
    """Anti-aliased shapes at an odd canvas's corner draw without index errors."""
    canvas = grey_canvas(63, 47)
    circle(canvas, (62.5, 46.5), 6, RED, filled=True)
    assert canvas.y[46, 62] == RED.y
    assert canvas.u[23, 31] != GREY[1]


def test_padded_frame_matches_contiguous_drawing_and_keeps_padding() -> None:
    """On a 1281x721 frame with row padding, drawing equals the contiguous result
    and the padding bytes are untouched."""
    frame, canvas = padded_frame(1281, 721)
    reference = grey_canvas(1281, 721)
    shapes = [
        Arrow((100.0, 100.0), (1279.5, 719.5), RED, 5),
        Circle((1280.0, 360.0), 80.0, Colour.rgb(0, 255, 0, 200), 7),
        Rect(1201.0, 601.0, 1281.0, 721.0, Colour.rgb(0, 0, 255)),
        Text("SpO2 97", 1180.0, 10.0, 40.0, Colour.rgb(255, 255, 0)),
    ]
    for shape in shapes:
        draw(canvas, shape)
        draw(reference, shape)
    for mine, ref in zip(
        (canvas.y, canvas.u, canvas.v),
        (reference.y, reference.u, reference.v),
        strict=True,
    ):
        assert np.array_equal(mine, ref)
    for plane in frame.planes:
        rows = np.frombuffer(plane, np.uint8)[: plane.line_size * plane.height]
        padding = rows.reshape(plane.height, plane.line_size)[:, plane.width :]
        assert (padding == 7).all()


def test_padded_frame_outside_shape_untouched() -> None:
    """Pixels of a padded frame outside a shape's coverage keep their values."""
    frame, canvas = padded_frame(1281, 722)
    before = snapshot(canvas)
    circle(canvas, (640, 360), 50, RED, thickness=4)
    box = bounding_box(changed(before, canvas)[0])
    assert box is not None
    x0, y0, x1, y1 = box
    assert 585 <= x0 and x1 <= 695 and 305 <= y0 and y1 <= 415


def test_wrong_frame_format_raises_bad_frame() -> None:
    """Only yuv420p frames can be drawn on."""
    with pytest.raises(BadFrame):
        YuvCanvas.from_frame(av.VideoFrame(64, 48, "rgb24"))


def test_non_uint8_planes_raise_bad_frame() -> None:
    """Planes that are not 8-bit raise ``BadFrame``, which is a ``ValueError``."""
    canvas = YuvCanvas(
        np.zeros((48, 64), np.float32),
        np.zeros((24, 32), np.float32),
        np.zeros((24, 32), np.float32),
    )
    with pytest.raises(ValueError):
        line(canvas, (0, 0), (10, 10), RED)


def test_compiled_shape_on_other_size_raises_bad_frame() -> None:
    """Replaying a shape compiled for another canvas size raises ``BadFrame``."""
    compiled = Circle((10.0, 10.0), 5.0, RED).compile(64, 48)
    assert compiled is not None
    with pytest.raises(BadFrame):
        compiled.apply(grey_canvas(32, 32))


def test_shape_layer_recompiles_for_a_new_frame_size() -> None:
    """A ShapeLayer draws the same shapes on frames of different sizes."""
    layer = ShapeLayer([Circle((20.0, 20.0), 8.0, RED, filled=True)])
    small, large = grey_canvas(64, 48), grey_canvas(128, 96)
    layer.draw(small, 0.0)
    layer.draw(large, 0.0)
    assert small.y[20, 20] == RED.y and large.y[20, 20] == RED.y


def test_shape_layer_replay_equals_one_off_drawing() -> None:
    """Replaying compiled stamps gives the same pixels as drawing directly."""
    shapes = [
        Polyline(((5.0, 5.0), (60.0, 9.0), (30.0, 40.0)), RED, 3, closed=True),
        Circle((32.0, 24.0), 9.0, Colour.rgb(0, 255, 0, 128), filled=True),
    ]
    layered, direct = grey_canvas(64, 48), grey_canvas(64, 48)
    layer = ShapeLayer(shapes)
    layer.draw(layered, 0.0)
    for shape in shapes:
        draw(direct, shape)
    assert np.array_equal(layered.y, direct.y) and np.array_equal(layered.u, direct.u)


def test_shape_layer_keeps_order_of_overlapping_shapes() -> None:
    """Overlapping shapes in a layer stack exactly as when drawn one by one."""
    shapes = [
        Circle((30.0, 24.0), 12.0, RED, filled=True),
        Line((0.0, 24.0), (63.0, 24.0), Colour.rgb(0, 0, 255, 150), 5),
        Text("Hi", 20.0, 14.0, 14.0, Colour.rgb(255, 255, 0), BLACK),
        Circle((30.0, 24.0), 6.0, Colour.rgb(0, 255, 0), 2),
    ]
    frame, layered = padded_frame(65, 49)
    direct = grey_canvas(65, 49)
    ShapeLayer(shapes).draw(layered, 0.0)
    for shape in shapes:
        draw(direct, shape)
    for mine, ref in zip(
        (layered.y, layered.u, layered.v), (direct.y, direct.u, direct.v), strict=True
    ):
        assert np.array_equal(mine, ref)


def test_unaligned_planes_paint_like_aligned_ones() -> None:
    """Planes starting off a 4-byte boundary take the byte path, same pixels."""
    width, height = 66, 50
    storage = np.full(10_000, 9, np.uint8)
    y = storage[3 : 3 + width * height].reshape(height, width)
    u = storage[4000 + 1 : 4000 + 1 + 33 * 25].reshape(25, 33)
    v = storage[6000 + 2 : 6000 + 2 + 33 * 25].reshape(25, 33)
    odd = YuvCanvas(y, u, v)
    paint_canvas = grey_canvas(width, height)
    for canvas in (odd, paint_canvas):
        canvas.y[:], canvas.u[:], canvas.v[:] = GREY
    shapes = [Rect(0.0, 0.0, 1.0, 1.0, RED), Circle((33.0, 25.0), 14.0, RED, 6)]
    ShapeLayer(shapes).draw(odd, 0.0)
    ShapeLayer(shapes).draw(paint_canvas, 0.0)
    assert np.array_equal(odd.y, paint_canvas.y) and np.array_equal(
        odd.v, paint_canvas.v
    )
