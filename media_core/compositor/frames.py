"""Getting any decoded frame ready to draw on and encode."""

from __future__ import annotations

from fractions import Fraction

import av
from av.video.reformatter import VideoReformatter

from media_core.compositor.encoding import TIME_BASE
from media_core.errors import BadFrame


class FramePreparer:
    """Turns frames into writable yuv420p frames with increasing 90 kHz pts.

    Holds one ``VideoReformatter`` so non-yuv420p input reuses one SwsContext:
    a fresh ``frame.reformat()`` per frame spawns scaler threads (research
    notes, pitfall 2). One instance per worker thread.
    """

    def __init__(self, fps: float) -> None:
        self._fps = fps
        self._reformatter = VideoReformatter()
        self._last_pts = -1

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        """Prepare ``frame``; raise ``BadFrame`` for sizes yuv420p cannot hold."""
        if frame.width % 2 or frame.height % 2 or frame.width < 2 or frame.height < 2:
            raise BadFrame(f"odd or empty size {frame.width}x{frame.height}")
        pts, time_base = frame.pts, frame.time_base
        if frame.format.name != "yuv420p":
            frame = self._reformatter.reformat(frame, format="yuv420p", threads=1)
        else:
            # Decoded frames share buffers with the decoder's reference
            # pictures; drawing into them would smear overlays into later frames.
            frame.make_writable()
        if pts is None or time_base is None:
            pts = self._last_pts + round(90000 / self._fps)
        elif time_base != TIME_BASE:
            pts = round(pts * Fraction(time_base) / TIME_BASE)
        pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        frame.pts, frame.time_base = pts, TIME_BASE
        frame.pict_type = av.video.frame.PictureType.NONE
        return frame
