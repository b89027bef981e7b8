"""Overlay drawing cost: YUV-plane drawing against the naive BGR round trip.

Run: ``.venv/bin/python bench/overlay.py`` (well under 2 minutes on 2 cores).

Per frame it draws the vitals layer (numerics, ECG and pleth sweeps) plus ten
annotations (arrows, circles, a polyline, text) onto yuv420p frames at 720p,
1080p and 4K. "overlay" is the media core's path: straight into the planes,
touching only covered pixels, with rasterisation cached between frames.
"hot" is the same path on frames left in cache (no decoder stand-in): the
difference to "overlay" is memory traffic, which varies most between machines.
"naive" converts the frame to BGR with ``cv2.cvtColor`` (I420 -> BGR), draws
the same things with OpenCV and converts back to I420 into the frame.
Frames rotate through a ring of distinct buffers, each rewritten (untimed)
just before drawing as a decoder would, and the timestamp advances by 1/30 s
per frame. Warm-up frames (first-frame rasterisation,
simulator blocks) are excluded. The last line is machine-readable.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media_core.canvas import YuvCanvas  # noqa: E402
from media_core.draw import (  # noqa: E402
    BLACK,
    Arrow,
    Circle,
    Colour,
    Line,
    Polyline,
    Shape,
    ShapeLayer,
    Text,
)
from media_core.vitals import VitalsLayer, VitalsSimulator, news2  # noqa: E402

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
RING = 3
WARMUP = 90
FRAMES = {"720p": 600, "1080p": 600, "4k": 600}
NAIVE_FRAMES = {"720p": 120, "1080p": 80, "4k": 40}
FPS = 30.0


def annotations(width: int, height: int) -> list[Shape]:
    """Ten telestration-like primitives placed relative to the frame."""
    s = height / 1080.0
    yellow, cyan = Colour.rgb(255, 220, 0), Colour.rgb(0, 220, 255)
    green, red = Colour.rgb(40, 255, 80), Colour.rgb(255, 40, 40)

    def at(fx: float, fy: float) -> tuple[float, float]:
        return fx * width, fy * height

    organ = tuple(
        at(
            0.55 + 0.07 * math.cos(a) * (1 + 0.2 * math.sin(3 * a)),
            0.30 + 0.09 * math.sin(a),
        )
        for a in np.linspace(0, 2 * math.pi, 14, endpoint=False)
    )
    return [
        Arrow(at(0.30, 0.25), at(0.45, 0.40), yellow, 6 * s),
        Arrow(at(0.80, 0.20), at(0.65, 0.35), yellow, 6 * s),
        Arrow(at(0.62, 0.78), at(0.56, 0.56), cyan, 5 * s),
        Circle(at(0.50, 0.50), 0.12 * height, green, 5 * s),
        Circle(at(0.76, 0.60), 0.06 * height, red, 4 * s),
        Circle(at(0.36, 0.62), 0.012 * height, Colour.rgb(255, 60, 60), filled=True),
        Polyline(organ, Colour.rgb(255, 0, 255), 4 * s, closed=True),
        Text(
            "Cut here", *at(0.46, 0.41), 0.03 * height, Colour.rgb(255, 255, 255), BLACK
        ),
        Text("Vessel", *at(0.66, 0.36), 0.025 * height, yellow, BLACK),
        Line(at(0.20, 0.15), at(0.40, 0.12), Colour.rgb(255, 255, 255), 3 * s),
    ]


def make_frames(width: int, height: int) -> list[av.VideoFrame]:
    """A ring of yuv420p frames with a textured picture."""
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(RING):
        frame = av.VideoFrame(width, height, "yuv420p")
        canvas = YuvCanvas.from_frame(frame)
        canvas.y[:] = rng.integers(40, 200, (height, width), np.uint8)
        canvas.u[:] = 120
        canvas.v[:] = 136
        frames.append(frame)
    return frames


def snapshot(canvas: YuvCanvas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The frame's picture, to be written back before each use."""
    return canvas.y.copy(), canvas.u.copy(), canvas.v.copy()


def decode(canvas: YuvCanvas, picture: tuple[np.ndarray, ...]) -> None:
    """Stand in for the decoder (untimed): it writes the whole frame just
    before the overlay draws, so the frame is as warm in cache as a freshly
    decoded one, no more."""
    np.copyto(canvas.y, picture[0])
    np.copyto(canvas.u, picture[1])
    np.copyto(canvas.v, picture[2])


def run_overlay(
    name: str, width: int, height: int, fresh: bool = True
) -> tuple[list[float], list[float]]:
    """Per-frame wall and thread-CPU milliseconds of the YUV overlay path.

    ``fresh=False`` draws on one frame again and again with no decoder
    stand-in, so what the drawing touches stays in cache: its own cost,
    without the memory traffic a freshly decoded frame brings (reported
    apart, as "hot")."""
    frames = make_frames(width, height)
    canvases = [YuvCanvas.from_frame(f) for f in frames]
    pictures = [snapshot(c) for c in canvases]
    layers = [
        VitalsLayer(VitalsSimulator("sepsis", seed=1)),
        ShapeLayer(annotations(width, height)),
    ]
    wall, cpu = [], []
    for i in range(WARMUP + FRAMES[name]):
        canvas, t = canvases[i % RING if fresh else 0], 600.0 + i / FPS
        if fresh:
            decode(canvas, pictures[i % RING])
        start, start_cpu = time.perf_counter(), time.thread_time()
        for layer in layers:
            layer.draw(canvas, t)
        if i >= WARMUP:
            wall.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.thread_time() - start_cpu) * 1e3)
    return wall, cpu


def to_bgr_colour(colour: Colour) -> tuple[int, int, int]:
    """Back from BT.601 limited-range YUV to a BGR tuple for OpenCV drawing."""
    y, u, v = colour.y - 16, colour.u - 128, colour.v - 128
    r = 1.164 * y + 1.596 * v
    g = 1.164 * y - 0.392 * u - 0.813 * v
    b = 1.164 * y + 2.017 * u
    return tuple(int(min(255, max(0, c))) for c in (b, g, r))  # type: ignore[return-value]


class NaiveOverlay:
    """The same picture drawn the naive way: whole frame to BGR and back."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.sim = VitalsSimulator("sepsis", seed=1)
        self.shapes = annotations(width, height)
        self.i420 = np.empty((height * 3 // 2, width), np.uint8)

    def draw(self, frame: av.VideoFrame, t: float) -> None:
        """Convert, draw with OpenCV, convert back into the frame's planes."""
        w, h = self.width, self.height
        canvas = YuvCanvas.from_frame(frame)
        flat = self.i420.reshape(-1)
        n, c = w * h, (w // 2) * (h // 2)
        flat[:n] = (
            canvas.y.reshape(-1) if canvas.y.flags.c_contiguous else canvas.y.ravel()
        )
        flat[n : n + c] = canvas.u.ravel()
        flat[n + c :] = canvas.v.ravel()
        bgr = cv2.cvtColor(self.i420, cv2.COLOR_YUV2BGR_I420)
        self._vitals(bgr, t)
        self._annotations(bgr)
        back = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
        canvas.y[:] = back[:n].reshape(h, w)
        canvas.u[:] = back[n : n + c].reshape(h // 2, w // 2)
        canvas.v[:] = back[n + c :].reshape(h // 2, w // 2)

    def _vitals(self, bgr: np.ndarray, t: float) -> None:
        u = self.height / 100.0
        m, pw, ph = int(1.5 * u), int(78 * u), int(24 * u)
        x0, y0 = m, self.height - m - ph
        cv2.rectangle(bgr, (x0, y0), (x0 + pw, y0 + ph), (22, 16, 12), -1)
        sw, sh = int(0.5 * pw), int((ph - 3 * u) / 2)
        for row, (kind, lo, hi, colour) in enumerate(
            (("ecg", -0.7, 1.7, (118, 230, 0)), ("pleth", -0.05, 1.05, (255, 200, 0)))
        ):
            top = int(y0 + u + row * (sh + u))
            cv2.rectangle(
                bgr, (x0 + int(u), top), (x0 + int(u) + sw, top + sh), (34, 26, 18), -1
            )
            samples, fs = self.sim.waveform(kind, t - 6.0, t)
            xs = x0 + u + np.linspace(0, sw, len(samples), endpoint=False)
            ys = top + (hi - samples) / (hi - lo) * sh
            pts = np.stack([xs, ys], 1).astype(np.int32)
            cv2.polylines(
                bgr, [pts], False, colour, max(1, round(0.28 * u)), cv2.LINE_AA
            )
        vitals = self.sim.numerics_at(t)
        score = news2(vitals)
        values = [
            f"{vitals.hr:.0f}",
            f"{vitals.spo2:.0f}",
            f"{vitals.sbp:.0f}/{vitals.dbp:.0f}",
            f"{vitals.rr:.0f}",
            f"{vitals.temp_c:.1f}",
            str(score.total),
        ]
        labels = ["HR", "SpO2 %", "NIBP", "RR", "Temp C", "NEWS2"]
        font = cv2.FONT_HERSHEY_DUPLEX
        for k, (label, value) in enumerate(zip(labels, values, strict=True)):
            cx = int(x0 + pw * 0.52 + (k % 2) * pw * 0.23)
            cy = int(y0 + u * (3 + 8 * (k // 2)))
            cv2.putText(
                bgr, label, (cx, cy), font, u / 14, (186, 172, 160), 1, cv2.LINE_AA
            )
            cv2.putText(
                bgr,
                value,
                (cx, cy + int(5 * u)),
                font,
                u / 5,
                (0, 140, 255),
                2,
                cv2.LINE_AA,
            )

    def _annotations(self, bgr: np.ndarray) -> None:
        for shape in self.shapes:
            if isinstance(shape, Arrow):
                cv2.arrowedLine(
                    bgr,
                    _pt(shape.tail),
                    _pt(shape.tip),
                    to_bgr_colour(shape.colour),
                    round(shape.thickness),
                    cv2.LINE_AA,
                )
            elif isinstance(shape, Circle) and shape.filled:
                r = int(shape.radius) + 2
                x, y = _pt(shape.centre)
                roi = bgr[y - r : y + r, x - r : x + r]
                layer = roi.copy()
                cv2.circle(
                    layer,
                    (r, r),
                    int(shape.radius),
                    to_bgr_colour(shape.colour),
                    -1,
                    cv2.LINE_AA,
                )
                cv2.addWeighted(
                    layer, shape.colour.alpha, roi, 1 - shape.colour.alpha, 0, dst=roi
                )
            elif isinstance(shape, Circle):
                cv2.circle(
                    bgr,
                    _pt(shape.centre),
                    int(shape.radius),
                    to_bgr_colour(shape.colour),
                    round(shape.thickness),
                    cv2.LINE_AA,
                )
            elif isinstance(shape, Polyline):
                pts = np.array(shape.points, np.int32)
                cv2.polylines(
                    bgr,
                    [pts],
                    shape.closed,
                    to_bgr_colour(shape.colour),
                    round(shape.thickness),
                    cv2.LINE_AA,
                )
            elif isinstance(shape, Text):
                org = (int(shape.x), int(shape.y + shape.height))
                scale = shape.height / 22.0
                cv2.putText(
                    bgr,
                    shape.string,
                    org,
                    cv2.FONT_HERSHEY_DUPLEX,
                    scale,
                    (0, 0, 0),
                    6,
                    cv2.LINE_AA,
                )
                cv2.putText(
                    bgr,
                    shape.string,
                    org,
                    cv2.FONT_HERSHEY_DUPLEX,
                    scale,
                    to_bgr_colour(shape.colour),
                    2,
                    cv2.LINE_AA,
                )
            elif isinstance(shape, Line):
                cv2.line(
                    bgr,
                    _pt(shape.p0),
                    _pt(shape.p1),
                    to_bgr_colour(shape.colour),
                    round(shape.thickness),
                    cv2.LINE_AA,
                )


def _pt(point: tuple[float, float]) -> tuple[int, int]:
    return int(point[0]), int(point[1])


def run_naive(name: str, width: int, height: int) -> tuple[list[float], list[float]]:
    """Per-frame wall and thread-CPU milliseconds of the naive BGR round trip."""
    frames = make_frames(width, height)
    naive = NaiveOverlay(width, height)
    canvases = [YuvCanvas.from_frame(f) for f in frames]
    pictures = [snapshot(c) for c in canvases]
    wall, cpu = [], []
    for i in range(5 + NAIVE_FRAMES[name]):
        decode(canvases[i % RING], pictures[i % RING])
        start, start_cpu = time.perf_counter(), time.thread_time()
        naive.draw(frames[i % RING], 600.0 + i / FPS)
        if i >= 5:
            wall.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.thread_time() - start_cpu) * 1e3)
    return wall, cpu


def main() -> None:
    """Run every size, print a table, then the machine-readable line."""
    results: dict[str, dict[str, float]] = {}
    print(f"OpenCV threads: {cv2.getNumThreads()}; CPU = this thread's CPU time")
    header = ("size", "path", "frames", "median ms", "p95 ms", "max ms", "cpu med ms")
    print("{:>6} {:>8} {:>7} {:>10} {:>8} {:>8} {:>11}".format(*header))
    for name, (width, height) in SIZES.items():
        overlay, overlay_cpu = (np.array(a) for a in run_overlay(name, width, height))
        hot, hot_cpu = (np.array(a) for a in run_overlay(name, width, height, False))
        naive, naive_cpu = (np.array(a) for a in run_naive(name, width, height))
        for path, ms, cpu in (
            ("overlay", overlay, overlay_cpu),
            ("hot", hot, hot_cpu),
            ("naive", naive, naive_cpu),
        ):
            print(
                f"{name:>6} {path:>8} {len(ms):>7} {np.median(ms):>10.3f} "
                f"{np.percentile(ms, 95):>8.3f} {ms.max():>8.3f} "
                f"{np.median(cpu):>11.3f}"
            )
        results[name] = {
            "overlay_median": float(np.median(overlay)),
            "overlay_p95": float(np.percentile(overlay, 95)),
            "overlay_cpu": float(np.median(overlay_cpu)),
            "hot_median": float(np.median(hot)),
            "naive_median": float(np.median(naive)),
        }
        results[name]["speedup"] = (
            results[name]["naive_median"] / results[name]["overlay_median"]
        )
    parts = []
    for name in ("4k", "1080p", "720p"):
        r = results[name]
        parts += [
            f"overlay_{name}_median_ms={r['overlay_median']:.3f}",
            f"overlay_{name}_p95_ms={r['overlay_p95']:.3f}",
            f"overlay_{name}_cpu_median_ms={r['overlay_cpu']:.3f}",
            f"overlay_{name}_hot_median_ms={r['hot_median']:.3f}",
            f"naive_{name}_median_ms={r['naive_median']:.2f}",
            f"speedup_{name}={r['speedup']:.1f}",
        ]
    print("bench: " + " ".join(parts))


if __name__ == "__main__":
    main()
