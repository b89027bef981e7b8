"""The vitals overlay: numerics coloured by NEWS2 score and sweeping waveforms.

Everything is drawn into a panel-sized ``YuvCanvas`` that persists between
frames: the background and labels are rendered once per frame size, numbers
are redrawn only when their text changes (numerics refresh once a second, as
on a monitor), and each waveform strip only draws the new stretch of trace
behind the sweep cursor and clears the gap ahead of it. Per frame the layer
then costs a few small ROI updates and one opaque copy of the panel.

Not re-entrant: one compositor thread draws a given layer.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from media_core.canvas import YuvCanvas
from media_core.draw import Colour, Rect, Text, draw, text_tile
from media_core.draw.native import blit, fill_columns, stroke
from media_core.vitals.model import Vitals, VitalsFeed, valid_number
from media_core.vitals.news2 import Band, News2, news2

logger = logging.getLogger(__name__)

BACKGROUND = Colour.rgb(12, 16, 22)
STRIP = Colour.rgb(18, 26, 34)
LABEL = Colour.rgb(160, 172, 186)
UNKNOWN = Colour.rgb(140, 140, 140)
# NEWS2 single-parameter score -> colour: neutral, amber, orange, red.
SCORE_COLOURS = {
    0: Colour.rgb(200, 255, 205),
    1: Colour.rgb(255, 214, 0),
    2: Colour.rgb(255, 140, 0),
    3: Colour.rgb(255, 50, 50),
}
BAND_COLOURS = {
    Band.LOW: SCORE_COLOURS[0],
    Band.LOW_MEDIUM: SCORE_COLOURS[1],
    Band.MEDIUM: SCORE_COLOURS[2],
    Band.HIGH: SCORE_COLOURS[3],
    Band.UNKNOWN: UNKNOWN,
}
ECG_COLOUR = Colour.rgb(0, 230, 118)
PLETH_COLOUR = Colour.rgb(0, 200, 255)
MISSING = "--"
# Up to this many new samples per frame take the plain-Python path.
_FAST_SAMPLES = 64


def _even(value: float) -> int:
    return max(2, int(value) & ~1)


def _sub(canvas: YuvCanvas, x: int, y: int, w: int, h: int) -> YuvCanvas:
    """A view of an even-aligned box of ``canvas``."""
    cx, cy, cw, ch = x // 2, y // 2, (w + 1) // 2, (h + 1) // 2
    return YuvCanvas(
        canvas.y[y : y + h, x : x + w],
        canvas.u[cy : cy + ch, cx : cx + cw],
        canvas.v[cy : cy + ch, cx : cx + cw],
    )


def _copy(dst: YuvCanvas, src: YuvCanvas) -> None:
    np.copyto(dst.y, src.y)
    np.copyto(dst.u, src.u)
    np.copyto(dst.v, src.v)


@dataclass(slots=True)
class _Field:
    """A box of the panel that shows one dynamic string."""

    x: int
    y: int
    w: int
    h: int
    size: float
    shown: tuple[str, Colour] | None = None

    def show(
        self, panel: YuvCanvas, static: YuvCanvas, string: str, colour: Colour
    ) -> None:
        if self.shown == (string, colour):
            return
        self.shown = (string, colour)
        box = _sub(panel, self.x, self.y, self.w, self.h)
        _copy(box, _sub(static, self.x, self.y, self.w, self.h))
        # Value boxes sit on the plain background, so a cached tile is exact.
        tile = text_tile(string, max(1, round(self.size)), colour, BACKGROUND)
        # Crop to the box, which itself may be cut short on a narrow frame.
        th = min(tile[0].shape[0], box.y.shape[0])
        tw = min(tile[0].shape[1], box.y.shape[1])
        np.copyto(box.y[:th, :tw], tile[0][:th, :tw])
        ch = min((th + 1) // 2, box.u.shape[0], tile[1].shape[0])
        cw = min((tw + 1) // 2, box.u.shape[1], tile[1].shape[1])
        np.copyto(box.u[:ch, :cw], tile[1][:ch, :cw])
        np.copyto(box.v[:ch, :cw], tile[2][:ch, :cw])


class _Sweep:
    """A monitor-style waveform strip: the trace is drawn left to right, wrapping.

    ``strip`` and ``clean`` are views of the live and static panels. Runs
    every frame, so the common case (a few new samples, no wrap, no gaps)
    takes a short path of a dozen small numpy calls and three OpenCV ones.
    """

    def __init__(
        self,
        kind: str,
        strip: YuvCanvas,
        clean: YuvCanvas,
        span: tuple[float, float],
        colour: Colour,
        thickness: int,
        seconds: float,
    ):
        self.kind, self.strip, self.clean = kind, strip, clean
        self.colour, self.thickness, self.seconds = colour, thickness, seconds
        self.w, self.h = strip.width, strip.height
        self.low, self.high = span
        self.gap = max(2 * thickness + 2, round(self.w * 0.04))
        self.next_t: float | None = None
        self.last: tuple[float, float] | None = None
        self._x_scale = self.w / seconds
        self._y_scale = (self.h - 1) / (self.high - self.low)
        self._planes = (
            (strip.y, clean.y, 1),
            (strip.u, clean.u, 2),
            (strip.v, clean.v, 2),
        )
        # Columns where the clean strip is not one plain colour (its label):
        # elsewhere the gap is cleared with a fill, which reads nothing.
        plain = tuple(int(plane[-1, -1]) for plane, _, _ in self._planes)
        busy = (clean.y != plain[0]).any(axis=0)
        for (_, plane, step), value in zip(self._planes[1:], plain[1:], strict=True):
            busy |= np.repeat((plane != value).any(axis=0), step)[: self.w]
        cols = np.flatnonzero(busy)
        self._busy = (int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, 0)
        self._fills = tuple(
            (live, value, step)
            for (live, _, step), value in zip(self._planes, plain, strict=True)
        )

    def advance(self, feed: VitalsFeed, t: float) -> None:
        """Draw the samples since the previous frame and clear the gap ahead."""
        start = self.next_t
        if start is None or t < start or t - start >= self.seconds * 0.9:
            # First frame, a seek or a long stall: start a fresh sweep.
            _copy(self.strip, self.clean)
            start = t - self.seconds * 0.9
            self.last = None
        samples, fs = feed.waveform(self.kind, start, t)
        count = len(samples)
        if not fs or not math.isfinite(fs) or fs <= 0:
            return
        first = math.ceil(start * fs)
        # Half a sample on, so the next window starts exactly at the next sample.
        self.next_t = (first + count - 0.5) / fs
        if not count:
            return
        if count <= _FAST_SAMPLES:
            values = samples.tolist() if hasattr(samples, "tolist") else list(samples)
            if self._advance_fast(values, first, fs):
                return
        times = np.arange(first, first + count) / fs
        xs = (times % self.seconds) * self._x_scale
        ys = (self.high - np.asarray(samples, np.float64)) * self._y_scale
        head = self.last[0] if self.last is not None else float(xs[0])
        self._erase(head + self.gap, float(xs[-1]) + self.gap)
        self._trace(xs, ys)

    def _advance_fast(self, values: list, first: int, fs: float) -> bool:
        """The usual frame in plain Python: a few finite samples, no wrap.

        After a freshly decoded frame has flushed the CPU caches each numpy
        call costs microseconds, far more than this arithmetic on a handful
        of floats. Computes exactly what the array path does (same IEEE
        operations in the same order); returns False to leave anything
        unusual (a gap, a wrap, the first point) to it.
        """
        last = self.last
        if last is None:
            return False
        x, y = last
        if not math.isfinite(y):
            return False
        seconds, x_scale, y_scale, high = (
            self.seconds,
            self._x_scale,
            self._y_scale,
            self.high,
        )
        low, top = -4.0 * self.h, 5.0 * self.h
        # The previous frame's last point, then each sample, in 4-bit fixed point.
        fixed = [int(x * 16), int(min(max(y, low), top) * 16)]
        j = first
        for value in values:
            y = (high - float(value)) * y_scale
            if not math.isfinite(y):
                return False
            x = (j / fs % seconds) * x_scale
            j += 1
            fixed += (int(x * 16), int(min(max(y, low), top) * 16))
        if x < last[0]:
            return False  # the sweep wraps within this frame
        self._erase(last[0] + self.gap, x + self.gap)
        self.last = (x, y)
        self._draw([np.array(fixed, np.int32).reshape(-1, 2)])
        return True

    def _erase(self, a: float, b: float) -> None:
        """Restore the background over columns after ``a`` up to ``b`` (wrapping)."""
        w = self.w
        lo, hi = int(a) + 1, int(b) + 1
        if hi <= lo:
            hi += w
        if hi - lo >= w:
            _copy(self.strip, self.clean)
            return
        if 0 <= lo and hi <= w:
            self._restore(lo, hi)  # the usual case: no wrap
            return
        for x0, x1 in ((lo, hi), (lo - w, hi - w), (lo + w, hi + w)):
            x0, x1 = max(0, x0), min(w, x1)
            if x0 < x1:
                self._restore(x0, x1)

    def _restore(self, x0: int, x1: int) -> None:
        """Put the clean background back over columns ``[x0, x1)``."""
        busy0, busy1 = self._busy
        if x1 <= busy0 or busy1 <= x0:
            for live, value, step in self._fills:
                fill_columns(live, x0 // step, (x1 + step - 1) // step, value)
            return
        for live, clean, step in self._planes:
            c0, c1 = x0 // step, (x1 + step - 1) // step
            live[:, c0:c1] = clean[:, c0:c1]

    def _trace(self, xs: np.ndarray, ys: np.ndarray) -> None:
        points = np.empty((len(xs) + 1, 2))
        points[1:, 0] = xs
        points[1:, 1] = ys
        points[0] = self.last if self.last is not None else points[1]
        self.last = (float(xs[-1]), float(ys[-1]))
        # Keep fixed-point coordinates well inside int32 for wild samples.
        column = points[:, 1]
        np.maximum(column, -4.0 * self.h, out=column)
        np.minimum(column, 5.0 * self.h, out=column)
        # Within one frame x only falls when the sweep wraps to the left edge.
        # The first point is the previous frame's last sample, which may be a
        # gap (NaN) too: a NaN cast to int32 would draw a stray line.
        if points[-1, 0] < points[0, 0] or not math.isfinite(float(column.sum())):
            # Break the trace at the wrap and wherever the feed has gaps (NaN).
            cut = (np.diff(points[:, 0]) < 0) | ~np.isfinite(points[1:, 1])
            pieces = np.split(points, np.flatnonzero(cut) + 1)
            pieces = [p[np.isfinite(p[:, 1])] for p in pieces]
            fixed = [(p * 16).astype(np.int32) for p in pieces if len(p) > 1]
            if not fixed:
                return
        else:
            points *= 16
            fixed = [points.astype(np.int32)]
        self._draw(fixed)

    def _draw(self, fixed: list[np.ndarray]) -> None:
        """Stroke pieces of luma points in 4-bit fixed point."""
        # Straight onto the panel's strip: the panel is small and owned, so
        # anti-aliasing blends against the strip's background directly.
        stroke(self.strip, fixed, self.colour, self.thickness)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Panel geometry for one frame size, all even luma pixels."""

    x: int
    y: int
    w: int
    h: int
    unit: float


class VitalsLayer:
    """Draws a vitals panel (numerics, ECG and pleth strips) from ``feed``.

    Sizes scale with the frame height so the panel reads the same on a phone
    at 720p and on a 4K wall. ``corner`` is one of ``"bottom-left"``,
    ``"bottom-right"``, ``"top-left"`` or ``"top-right"``. ``sweep_seconds``
    is how much trace fits across a strip. Implements ``Layer``.
    """

    def __init__(
        self,
        feed: VitalsFeed,
        *,
        corner: str = "bottom-left",
        sweep_seconds: float = 6.0,
        spo2_scale: int = 1,
    ):
        if corner not in ("bottom-left", "bottom-right", "top-left", "top-right"):
            raise ValueError(f"unknown corner {corner!r}")
        self.feed = feed
        self.corner = corner
        self.sweep_seconds = float(sweep_seconds)
        self.spo2_scale = spo2_scale
        self._size: tuple[int, int] | None = None
        self._layout: _Layout | None = None
        self._static = YuvCanvas.blank(2, 2)
        self._panel = YuvCanvas.blank(2, 2)
        self._fields: dict[str, _Field] = {}
        self._sweeps: list[_Sweep] = []
        self._second: int | None = None
        # The panel's top-left luma pixel on the frame (both even).
        self._box: tuple[int, int] | None = None

    def region(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The ``(x, y, w, h)`` box the panel covers on a ``width x height`` frame."""
        layout = self._plan(width, height)
        return layout.x, layout.y, layout.w, layout.h

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        """Paint the panel for the frame at ``timestamp`` (feed seconds)."""
        height, width = canvas.y.shape
        if self._size != (width, height):
            self._build(width, height)
        box = self._box
        if box is None or not math.isfinite(timestamp):
            return
        second = math.floor(timestamp)
        if second != self._second:
            self._second = second
            self._refresh(self.feed.numerics_at(timestamp))
        for sweep in self._sweeps:
            sweep.advance(self.feed, timestamp)
        # The panel is opaque: one copy per plane puts all of it on the frame.
        blit(canvas, self._panel, *box)

    # Layout and static parts --------------------------------------------

    def _plan(self, width: int, height: int) -> _Layout:
        unit = height / 100.0
        margin = _even(1.5 * unit)
        w = min(_even(78 * unit), _even(width - 2 * margin))
        h = min(_even(24 * unit), _even(height - 2 * margin))
        right = "right" in self.corner
        x = _even(width - margin - w) if right else margin
        y = margin if "top" in self.corner else _even(height - margin - h)
        return _Layout(x, y, w, h, unit)

    def _build(self, width: int, height: int) -> None:
        self._size = (width, height)
        self._second = None
        layout = self._plan(width, height)
        if width < 64 or height < 64:
            self._layout = self._box = None
            logger.debug("frame %sx%s too small for the vitals panel", width, height)
            return
        self._layout = layout
        self._box = (layout.x, layout.y)
        u, w, h = layout.unit, layout.w, layout.h
        pad = _even(u)
        static = YuvCanvas.blank(w, h)
        draw(static, Rect(0, 0, w, h, BACKGROUND))
        label = 1.6 * u
        wave_w = _even(0.5 * w)
        strip_h = _even((h - 3 * pad) / 2)
        # An even width (6 px at 4K, 4 at 1080p, 2 at 720p): the trace weights
        # the panel was designed with, when OpenCV rounded odd widths up.
        thick = max(2, 2 * round(0.14 * u))
        strips = (
            ("ecg", "II", pad, (-0.7, 1.7), ECG_COLOUR),
            ("pleth", "Pleth", 2 * pad + strip_h, (-0.05, 1.05), PLETH_COLOUR),
        )
        strips_spec: list[
            tuple[str, tuple[int, int, int, int], tuple[float, float], Colour]
        ] = []
        for kind, name, top, span, colour in strips:
            draw(static, Rect(pad, top, pad + wave_w, top + strip_h, STRIP))
            draw(static, Text(name, pad + 0.4 * u, top + 0.3 * u, label, LABEL))
            strips_spec.append((kind, (pad, top, wave_w, strip_h), span, colour))
        self._fields = {}
        left = 2 * pad + wave_w
        col_w = _even((w - left - pad) / 2)
        rows = ((0.0, 0.42, 5.0), (0.42, 0.29, 2.8), (0.71, 0.29, 2.8))
        cells = (
            ("hr", "HR", 0, 0),
            ("spo2", "SpO2 %", 0, 1),
            ("bp", "NIBP", 1, 0),
            ("rr", "RR", 1, 1),
            ("temp", "Temp C", 2, 0),
            ("news2", "NEWS2", 2, 1),
        )
        inner_h = h - 2 * pad
        for key, name, row, col in cells:
            top_f, height_f, size = rows[row]
            cx = left + col * col_w
            cy = pad + _even(top_f * inner_h)
            ch = _even(height_f * inner_h)
            draw(static, Text(name, cx, cy, label, LABEL))
            value_y = cy + _even(label + 0.8 * u)
            value_h = max(2, _even(ch - (value_y - cy)))
            self._fields[key] = _Field(cx, value_y, col_w - 2, value_h, size * u)
            if key in ("bp", "news2"):
                # A small second value on the label line: MAP, or ACVPU and O2.
                sx = cx + _even(col_w * 0.5)
                self._fields[key + "_note"] = _Field(
                    sx, cy, col_w - 2 - (sx - cx), _even(label + 1.2 * u), label
                )
        self._static = static
        self._panel = YuvCanvas(static.y.copy(), static.u.copy(), static.v.copy())
        self._sweeps = [
            _Sweep(
                kind,
                _sub(self._panel, *box),
                _sub(static, *box),
                span,
                colour,
                thick,
                self.sweep_seconds,
            )
            for kind, box, span, colour in strips_spec
        ]
        logger.debug("vitals panel %sx%s for %sx%s", w, h, width, height)

    # Numerics -----------------------------------------------------------

    def _refresh(self, vitals: Vitals) -> None:
        score = news2(vitals, spo2_scale=self.spo2_scale)
        values = _display(vitals, score)
        for key, (string, colour) in values.items():
            self._fields[key].show(self._panel, self._static, string, colour)


def _fmt(value: float | None, digits: int = 0) -> str:
    if not valid_number(value):
        return MISSING
    return f"{float(value):.{digits}f}"  # type: ignore[arg-type]


def _paint(score: int | None) -> Colour:
    return UNKNOWN if score is None else SCORE_COLOURS[score]


def _display(v: Vitals, score: News2) -> dict[str, tuple[str, Colour]]:
    """Strings and colours for every field."""
    s = score.scores
    bp = MISSING
    if valid_number(v.sbp) or valid_number(v.dbp):
        bp = f"{_fmt(v.sbp)}/{_fmt(v.dbp)}"
    mean = v.map
    acvpu = v.acvpu.strip().upper()[:1] if isinstance(v.acvpu, str) else "-"
    o2 = " O2" if v.supplemental_o2 else ""
    total = MISSING if score.total is None else str(score.total)
    return {
        "hr": (_fmt(v.hr), _paint(s["hr"])),
        "spo2": (_fmt(v.spo2), _paint(s["spo2"])),
        "bp": (bp, _paint(s["sbp"])),
        "bp_note": ("MAP " + _fmt(mean), LABEL if mean is not None else UNKNOWN),
        "rr": (_fmt(v.rr), _paint(s["rr"])),
        "temp": (_fmt(v.temp_c, 1), _paint(s["temp_c"])),
        "news2": (total, BAND_COLOURS[score.band]),
        "news2_note": (
            f"{acvpu or '-'}{o2}",
            _paint(max(s["acvpu"] or 0, s["o2"] or 0)),
        ),
    }
