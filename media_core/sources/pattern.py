"""A moving test pattern: colour bars, a luma ramp, a bouncing box, a counter."""

from __future__ import annotations

import logging

import av
import cv2
import numpy as np

from media_core.sources.base import bgr_to_planes, canvas_of, check_format, new_frame

logger = logging.getLogger(__name__)

# 75 % SMPTE-style bars in BGR: white, yellow, cyan, green, magenta, red, blue.
_BARS_BGR = (
    (191, 191, 191),
    (0, 191, 191),
    (191, 191, 0),
    (0, 191, 0),
    (191, 0, 191),
    (0, 0, 191),
    (191, 0, 0),
)


class TestPatternSource:
    """Colour bars over a luma ramp with a moving box and a visible frame counter.

    The static background is rendered once; each frame copies it into a new
    ``yuv420p`` frame and draws only the box and the counter.
    """

    __test__ = False  # not a pytest class despite the name

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        check_format(width, height, fps)
        self.width, self.height, self.fps = width, height, float(fps)
        self._y, self._u, self._v = bgr_to_planes(self._background())
        self._box = max(2, (height // 8) & ~1)
        self._font_scale = max(0.4, height / 360)
        self._thickness = max(1, round(height / 240))

    def _background(self) -> np.ndarray:
        w, h = self.width, self.height
        bgr = np.zeros((h, w, 3), np.uint8)
        bars_h = h * 2 // 3
        edges = np.linspace(0, w, len(_BARS_BGR) + 1).astype(int)
        for colour, x0, x1 in zip(_BARS_BGR, edges[:-1], edges[1:], strict=True):
            bgr[:bars_h, x0:x1] = colour
        ramp = np.linspace(0, 255, w).astype(np.uint8)
        bgr[bars_h:] = ramp[None, :, None]
        return bgr

    def box_position(self, index: int) -> tuple[int, int]:
        """Top-left luma pixel (even x, y) of the moving box in frame ``index``."""
        span_x, span_y = self.width - self._box, self.height - self._box
        t = index / self.fps
        x = _triangle(t * 0.25) * span_x
        y = _triangle(t * 0.17) * span_y
        return int(x) & ~1, int(y) & ~1

    def frame(self, index: int) -> av.VideoFrame:
        """Frame ``index`` as ``yuv420p`` with pts in 1/90000."""
        frame = new_frame(self.width, self.height, index, self.fps)
        canvas = canvas_of(frame)
        canvas.y[:] = self._y
        canvas.u[:] = self._u
        canvas.v[:] = self._v
        x, y = self.box_position(index)
        b = self._box
        canvas.y[y : y + b, x : x + b] = 235
        # A saturated orange box: its chroma moves with it, testing chroma siting.
        canvas.u[y // 2 : (y + b) // 2, x // 2 : (x + b) // 2] = 60
        canvas.v[y // 2 : (y + b) // 2, x // 2 : (x + b) // 2] = 200
        self._draw_counter(canvas.y, index)
        return frame

    def _draw_counter(self, luma: np.ndarray, index: int) -> None:
        text = f"{index:06d}  {index / self.fps:9.3f}s"
        font = cv2.FONT_HERSHEY_SIMPLEX
        (tw, th), base = cv2.getTextSize(text, font, self._font_scale, self._thickness)
        x0 = max(0, self.width - tw - th)
        y0 = max(th + base, self.height - th)
        pad = self._thickness + 1
        top, bottom = max(0, y0 - th - pad), min(self.height, y0 + base + pad)
        luma[top:bottom, x0:] = 16
        cv2.putText(luma, text, (x0, y0), font, self._font_scale, 235, self._thickness)


def _triangle(phase: float) -> float:
    """A 0..1..0 triangle wave with period 1."""
    frac = phase % 1.0
    return 2 * frac if frac < 0.5 else 2 * (1 - frac)
