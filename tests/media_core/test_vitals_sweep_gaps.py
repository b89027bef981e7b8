"""Waveform gaps in the vitals sweep: a gap ending between frames."""

from __future__ import annotations

import math

import numpy as np

from media_core.vitals import Vitals, VitalsLayer, VitalsSimulator
from tests.media_core.yuv_asserts import grey_canvas, snapshot


class GapThenFlat:
    """Numerics are fine; waveforms are NaN before ``resume`` and flat after."""

    def __init__(self, resume: float):
        self.resume = resume

    def numerics_at(self, t: float) -> Vitals:
        return Vitals(hr=80, spo2=97, sbp=120, dbp=80, rr=14, temp_c=37.0)

    def waveform(
        self, kind: str, t0: float, t1: float, fs: float | None = None
    ) -> tuple[np.ndarray, float]:
        rate = fs or 250.0
        first, stop = math.ceil(t0 * rate), math.ceil(t1 * rate)
        times = np.arange(first, max(first, stop)) / rate
        return np.where(times < self.resume, math.nan, 0.5), rate


def _row_bands(rows: np.ndarray) -> list[int]:
    """Heights of the runs of consecutive row numbers in sorted ``rows``."""
    if rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) > 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [rows.size - 1]))
    return [int(rows[e] - rows[s] + 1) for s, e in zip(starts, ends, strict=True)]


def test_trace_resuming_after_a_gap_draws_no_stray_line() -> None:
    """When the previous frame ended in a gap (NaN), the next frame's trace
    starts at its first real sample: only thin flat lines appear, never a
    line from a bogus point across the strip."""
    canvas = grey_canvas(1280, 720)
    layer = VitalsLayer(GapThenFlat(resume=10.0))
    layer.draw(canvas, 10.0)  # all samples NaN: nothing traced
    before = snapshot(canvas)
    layer.draw(canvas, 10.2)
    changed_rows = np.flatnonzero((canvas.y != before[0]).any(axis=1))
    bands = _row_bands(changed_rows)
    assert bands, "the flat trace should be drawn"
    assert max(bands) <= 8, bands


class Patchy:
    """A live simulator feed whose waveforms drop out now and then."""

    def __init__(self) -> None:
        self.sim = VitalsSimulator("trauma", seed=3)

    def numerics_at(self, t: float) -> Vitals:
        return self.sim.numerics_at(t)

    def waveform(
        self, kind: str, t0: float, t1: float, fs: float | None = None
    ) -> tuple[np.ndarray, float]:
        samples, rate = self.sim.waveform(kind, t0, t1)
        first = math.ceil(t0 * rate)
        times = (first + np.arange(len(samples))) / rate
        return np.where((times % 4.0) < 0.7, math.nan, samples), rate


def test_each_frame_gets_the_whole_panel_as_the_layer_holds_it() -> None:
    """After every draw the frame shows exactly the panel the layer holds: a
    guard for any change that copies less than the whole panel (such as only
    the columns the sweeps changed). Covers wraps (6 s sweeps over 20 s), a
    seek back, gaps, stalls of different lengths and the fast and array paths
    (1 to 300 samples)."""
    layer = VitalsLayer(Patchy(), sweep_seconds=6.0)  # type: ignore[arg-type]
    t, steps = 50.0, [1 / 30, 1 / 60, 1 / 30, 0.5, 1 / 30, 1 / 25, 1.2]
    for i in range(420):
        canvas = grey_canvas(1280, 720)
        t = 40.0 if i == 300 else t + steps[i % len(steps)]
        layer.draw(canvas, t)
        x, y, w, h = layer.region(1280, 720)
        panel = layer._panel
        assert np.array_equal(canvas.y[y : y + h, x : x + w], panel.y), f"frame {i}"
        box = canvas.u[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2]
        assert np.array_equal(box, panel.u), f"frame {i}"
        box = canvas.v[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2]
        assert np.array_equal(box, panel.v), f"frame {i}"
