"""What every synthetic source shares: sizes, timing and frame assembly."""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Protocol, runtime_checkable

import av
import numpy as np

from media_core.canvas import YuvCanvas
from media_core.errors import BadFrame

logger = logging.getLogger(__name__)

#: RTP video clock; every synthetic frame carries pts in this time base.
VIDEO_TIME_BASE = Fraction(1, 90000)
MAX_WIDTH = 3840
MAX_HEIGHT = 2160
MAX_FPS = 60.0


@runtime_checkable
class VideoSource(Protocol):
    """A deterministic generator of ``yuv420p`` frames indexed by frame number."""

    width: int
    height: int
    fps: float

    def frame(self, index: int) -> av.VideoFrame:
        """Frame ``index``: ``pts = round(index * 90000 / fps)``, time base 1/90000."""
        ...


def check_format(width: int, height: int, fps: float) -> None:
    """Raise ``BadFrame`` unless the size is even and at most 4K and 0 < fps <= 60."""
    if not (2 <= width <= MAX_WIDTH and 2 <= height <= MAX_HEIGHT):
        raise BadFrame(f"size {width}x{height} outside 2x2..{MAX_WIDTH}x{MAX_HEIGHT}")
    if width % 2 or height % 2:
        raise BadFrame(f"yuv420p needs an even size, got {width}x{height}")
    if not 0 < fps <= MAX_FPS:
        raise BadFrame(f"fps must be in (0, {MAX_FPS}], got {fps}")


def pts_for(index: int, fps: float) -> int:
    """The 90 kHz pts of frame ``index`` at ``fps``."""
    return round(index * 90000 / fps)


def new_frame(width: int, height: int, index: int, fps: float) -> av.VideoFrame:
    """An uninitialised ``yuv420p`` frame with pts and time base set."""
    frame = av.VideoFrame(width, height, "yuv420p")
    frame.pts = pts_for(index, fps)
    frame.time_base = VIDEO_TIME_BASE
    return frame


def canvas_of(frame: av.VideoFrame) -> YuvCanvas:
    """Shorthand for ``YuvCanvas.from_frame``."""
    return YuvCanvas.from_frame(frame)


def bgr_to_planes(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split an even-sized BGR image into contiguous BT.601 Y, U, V planes (once)."""
    import cv2

    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    y = np.ascontiguousarray(i420[:h])
    chroma = i420[h:].reshape(-1)
    quarter = (h // 2) * (w // 2)
    u = chroma[:quarter].reshape(h // 2, w // 2).copy()
    v = chroma[quarter:].reshape(h // 2, w // 2).copy()
    return y, u, v
