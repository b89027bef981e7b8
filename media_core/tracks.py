"""aiortc ``MediaStreamTrack`` subclasses owned by the media core."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media_core.canvas import YuvCanvas
from media_core.sources.base import VideoSource, pts_for
from media_core.stamps import wall_clock_ms, write_stamp

logger = logging.getLogger(__name__)


class SyntheticVideoTrack(MediaStreamTrack):
    """A video track pacing a synthetic ``source`` in real time.

    Frames keep the source's pts in 1/90000. When the consumer falls behind,
    frames are skipped so that pts keeps following wall time (aiortc's own
    ``VideoStreamTrack`` instead lets pts drift behind). With ``stamp=True``
    each frame carries its capture time (``clock()``, wall-clock ms) as a
    latency stamp. Frames are rendered on a private one-thread executor.
    """

    kind = "video"

    def __init__(
        self,
        source: VideoSource,
        fps: float | None = None,
        *,
        stamp: bool = False,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        super().__init__()
        self.source = source
        self.fps = float(fps or source.fps)
        if not 0 < self.fps <= 60:
            raise ValueError(f"fps must be in (0, 60], got {self.fps}")
        self._stamp = stamp
        self._clock = clock
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="synthetic-video")
        self._start: float | None = None
        self._index = 0
        self.frames_skipped = 0

    async def recv(self) -> av.VideoFrame:
        """The next frame, no earlier than its due time."""
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._start is None:
            self._start = now
        due = self._start + self._index / self.fps
        if now - due > 1 / self.fps:
            # Behind by more than a frame: jump to the present frame.
            late = int((now - self._start) * self.fps)
            self.frames_skipped += late - self._index
            self._index = late
            due = self._start + late / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        index = self._index
        self._index += 1
        return await loop.run_in_executor(self._executor, self._render, index)

    def _render(self, index: int) -> av.VideoFrame:
        frame = self.source.frame(index)
        # The source's own pts assume its fps; this track may pace differently.
        frame.pts = pts_for(index, self.fps)
        if self._stamp:
            write_stamp(YuvCanvas.from_frame(frame), self._clock())
        return frame

    def stop(self) -> None:
        """End the track and release its render thread."""
        super().stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
