"""Writable numpy views onto the planes of a ``yuv420p`` frame.

Drawing goes straight into these views, so only the pixels an overlay covers
are touched and the frame is never converted to BGR and back.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from media_core.errors import BadFrame


@dataclass(frozen=True, slots=True)
class YuvCanvas:
    """The Y, U and V planes of one ``yuv420p`` image, in pixels.

    ``y`` is ``height x width``; ``u`` and ``v`` are ``ceil(height/2) x
    ceil(width/2)``. Each is a view that honours the plane's line size
    (padding), so writes land in the frame's own memory.
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @property
    def width(self) -> int:
        """Luma width in pixels."""
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        """Luma height in pixels."""
        return int(self.y.shape[0])

    @classmethod
    def from_frame(cls, frame: av.VideoFrame) -> YuvCanvas:
        """Wrap ``frame``'s planes without copying; ``BadFrame`` if not yuv420p."""
        if frame.format.name != "yuv420p":
            raise BadFrame(f"expected a yuv420p frame, got {frame.format.name}")
        return cls(*(_plane_view(plane) for plane in frame.planes))

    @classmethod
    def blank(cls, width: int, height: int) -> YuvCanvas:
        """A black canvas backed by plain arrays (tests and synthetic sources)."""
        cw, ch = (width + 1) // 2, (height + 1) // 2
        return cls(
            np.full((height, width), 16, np.uint8),
            np.full((ch, cw), 128, np.uint8),
            np.full((ch, cw), 128, np.uint8),
        )


def _plane_view(plane: av.video.plane.VideoPlane) -> np.ndarray:
    buffer = np.frombuffer(plane, np.uint8)
    rows = buffer[: plane.line_size * plane.height].reshape(
        plane.height, plane.line_size
    )
    return rows[:, : plane.width]
