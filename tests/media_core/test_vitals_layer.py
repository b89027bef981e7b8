"""The vitals overlay layer: placement, scaling, sweeping and missing data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from media_core.canvas import YuvCanvas
from media_core.draw import Colour
from media_core.layers import Layer
from media_core.vitals import Vitals, VitalsLayer, VitalsSimulator
from media_core.vitals.layer import SCORE_COLOURS, UNKNOWN
from tests.media_core.yuv_asserts import bounding_box, changed, grey_canvas, snapshot


class MissingFeed:
    """A feed whose device has lost every reading."""

    def __init__(self, value: float | None):
        self.value = value

    def numerics_at(self, t: float) -> Vitals:
        v = self.value
        return Vitals(hr=v, spo2=v, sbp=v, dbp=v, rr=v, temp_c=v)

    def waveform(
        self, kind: str, t0: float, t1: float, fs: float | None = None
    ) -> tuple[np.ndarray, float]:
        rate = fs or 250.0
        count = max(0, math.ceil(t1 * rate) - math.ceil(t0 * rate))
        return np.full(count, math.nan), rate


def test_layer_satisfies_protocol() -> None:
    """VitalsLayer is a Layer."""
    assert isinstance(VitalsLayer(VitalsSimulator()), Layer)


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (3840, 2160)])
def test_draws_only_inside_its_region(width: int, height: int) -> None:
    """Every changed pixel lies inside the box ``region`` reports."""
    canvas = grey_canvas(width, height)
    before = snapshot(canvas)
    layer = VitalsLayer(VitalsSimulator("sepsis", seed=1))
    for i in range(10):
        layer.draw(canvas, 100.0 + i / 30)
    x, y, w, h = layer.region(width, height)
    dy, du, dv = changed(before, canvas)
    box = bounding_box(dy)
    assert box is not None
    assert x <= box[0] and y <= box[1] and box[2] <= x + w and box[3] <= y + h
    chroma = bounding_box(du | dv)
    assert chroma is not None
    assert x // 2 <= chroma[0] and chroma[2] <= (x + w + 1) // 2


def test_panel_scales_with_frame_height() -> None:
    """The panel covers the same share of the frame at 720p and at 4K."""
    layer = VitalsLayer(VitalsSimulator())
    small = layer.region(1280, 720)
    large = layer.region(3840, 2160)
    assert large[3] / 2160 == pytest.approx(small[3] / 720, abs=0.01)
    assert large[2] / 2160 == pytest.approx(small[2] / 720, abs=0.01)


def _chroma_count(
    canvas: YuvCanvas, region: tuple[int, int, int, int], colour: Colour
) -> int:
    """How many chroma samples in ``region`` hold exactly ``colour``'s U and V."""
    x, y, w, h = region
    u = canvas.u[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2]
    v = canvas.v[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2]
    return int(((u == colour.u) & (v == colour.v)).sum())


@pytest.mark.parametrize("value", [math.nan, None])
def test_missing_vitals_render_dashes(value: float | None) -> None:
    """NaN or missing numerics draw grey "--" and no score colour."""
    canvas = grey_canvas(1280, 720)
    layer = VitalsLayer(MissingFeed(value))
    layer.draw(canvas, 5.0)
    region = layer.region(1280, 720)
    assert _chroma_count(canvas, region, UNKNOWN) > 20
    for colour in SCORE_COLOURS.values():
        assert _chroma_count(canvas, region, colour) == 0


def test_nan_and_none_render_the_same() -> None:
    """A NaN reading and a missing one look identical on the panel."""
    nan, none = grey_canvas(1280, 720), grey_canvas(1280, 720)
    VitalsLayer(MissingFeed(math.nan)).draw(nan, 5.0)
    VitalsLayer(MissingFeed(None)).draw(none, 5.0)
    assert np.array_equal(nan.y, none.y) and np.array_equal(nan.v, none.v)


def test_numerics_coloured_by_news2_score() -> None:
    """A septic patient's panel shows the red (score 3) colour."""
    canvas = grey_canvas(1280, 720)
    layer = VitalsLayer(VitalsSimulator("sepsis", seed=1))
    layer.draw(canvas, 1150.0)
    x, y, w, h = layer.region(1280, 720)
    assert (
        canvas.v[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] == SCORE_COLOURS[3].v
    ).any()


def test_sweep_advances_between_frames() -> None:
    """Later frames change the waveform strips (the trace moves on)."""
    layer = VitalsLayer(VitalsSimulator("stable", seed=1))
    first, second = grey_canvas(1280, 720), grey_canvas(1280, 720)
    layer.draw(first, 10.0)
    layer.draw(second, 10.5)
    assert not np.array_equal(first.y, second.y)


def test_time_going_backwards_restarts_sweep() -> None:
    """A seek backwards redraws cleanly instead of failing."""
    layer = VitalsLayer(VitalsSimulator("stable", seed=1))
    canvas = grey_canvas(1280, 720)
    layer.draw(canvas, 50.0)
    layer.draw(canvas, 20.0)
    again = grey_canvas(1280, 720)
    VitalsLayer(VitalsSimulator("stable", seed=1)).draw(again, 20.0)
    assert np.array_equal(canvas.y, again.y)


def test_non_finite_timestamp_is_ignored() -> None:
    """A NaN timestamp draws nothing and raises nothing."""
    canvas = grey_canvas(640, 360)
    before = snapshot(canvas)
    VitalsLayer(VitalsSimulator()).draw(canvas, math.nan)
    assert not changed(before, canvas)[0].any()


def test_tiny_frame_is_left_alone() -> None:
    """Frames too small for a readable panel are not drawn on."""
    canvas = grey_canvas(48, 32)
    before = snapshot(canvas)
    VitalsLayer(VitalsSimulator()).draw(canvas, 1.0)
    assert not changed(before, canvas)[0].any()


@pytest.mark.parametrize(("width", "height"), [(100, 2000), (2000, 66), (301, 171)])
def test_odd_shaped_frames_do_not_crash(width: int, height: int) -> None:
    """Very narrow, very flat or odd-sized frames draw a cropped panel."""
    canvas = grey_canvas(width, height)
    layer = VitalsLayer(VitalsSimulator("trauma", seed=2), corner="top-right")
    for t in (0.0, 0.4, 1.3):
        layer.draw(canvas, t)
    x, y, w, h = layer.region(width, height)
    assert 0 <= x and x + w <= width and 0 <= y and y + h <= height


def test_epoch_sized_timestamps_are_cheap() -> None:
    """A timestamp of 1.7e9 s draws at once: nothing is replayed from zero."""
    canvas = grey_canvas(640, 360)
    layer = VitalsLayer(VitalsSimulator("sepsis", seed=1))
    layer.draw(canvas, 1.7e9)
    layer.draw(canvas, 1.7e9 + 1 / 30)
    assert (canvas.y != grey_canvas(640, 360).y).any()


def test_gap_ahead_of_the_sweep_is_clean_background() -> None:
    """Over a whole sweep (past the strip labels) the gap ahead of each trace
    is exactly the strip's clean background, on all three planes."""
    layer = VitalsLayer(VitalsSimulator("stable", seed=1), sweep_seconds=2.0)
    canvas = grey_canvas(1280, 720)
    for i in range(75):
        layer.draw(canvas, 40.0 + i / 30)
        for sweep in layer._sweeps:
            assert sweep.last is not None
            # Past the new segment's rounded end, up to the end of the gap.
            lo = int(sweep.last[0]) + sweep.thickness + 2
            hi = min(sweep.w, int(sweep.last[0] + sweep.gap) + 1)
            for live, clean, step in sweep._planes:
                cols = slice((lo + step - 1) // step, hi // step)
                assert np.array_equal(live[:, cols], clean[:, cols])
