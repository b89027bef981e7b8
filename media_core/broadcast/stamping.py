"""Keeping the publisher's latency stamp through the composite, and reading it.

The browser writes each frame's capture time into its top-left corner
(``media_core.stamps``). The composite feed re-encodes that picture, so:

* ``StampKeeper.save`` (the bottom layer) reads the stamp and keeps a copy of
  the stamp block; ``StampKeeper.restore`` (the top layer) puts the block
  back, so no overlay can cover it and a viewer still measures true
  glass-to-glass latency through the composite.
* ``CaptureClock`` remembers, for recent frames, which capture time (Unix ms,
  the publisher's clock) belongs to which media time (the compositor's
  ``timestamp``, seconds). The feed dates HLS segments with it, and an
  annotation layer maps "drawn on the frame stamped X" to its own timeline.

Reading a stamp costs about 0.1 ms at 1080p (80 cells' means), so every frame
is read.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import OrderedDict, deque

import numpy as np

from media_core.canvas import YuvCanvas
from media_core.errors import BadFrame
from media_core.stamps import read_stamp, stamp_geometry

logger = logging.getLogger(__name__)

#: About ten seconds of 30 fps video.
DEFAULT_FRAMES = 300


class CaptureClock:
    """Capture stamps (Unix ms) of the latest frames by media time; thread-safe.

    ``record`` runs on the compositor thread; the look-ups on any thread.
    """

    def __init__(self, frames: int = DEFAULT_FRAMES) -> None:
        self._lock = threading.Lock()
        self._frames = frames
        self._by_tick: OrderedDict[int, int] = OrderedDict()
        self._ring: deque[tuple[int, float]] = deque(maxlen=frames)
        self._latest: float | None = None
        self.stamped = 0
        self.unstamped = 0

    def record(self, timestamp: float, capture_ms: int | None) -> None:
        """Note the frame at ``timestamp`` (s) and its stamp, if it had one."""
        with self._lock:
            if self._latest is not None and timestamp < self._latest:
                # Media time went back (a restart): old pairs would mislead.
                self._by_tick.clear()
                self._ring.clear()
            self._latest = timestamp
            if capture_ms is None:
                self.unstamped += 1
                return
            self.stamped += 1
            self._by_tick[round(timestamp * 90000)] = capture_ms
            while len(self._by_tick) > self._frames:
                self._by_tick.popitem(last=False)
            if self._ring and capture_ms < self._ring[-1][0]:
                # Stamps must rise for the bisect; a publisher clock step resets.
                self._ring.clear()
            self._ring.append((capture_ms, timestamp))

    def latest(self) -> float | None:
        """The media time of the newest frame seen, stamped or not."""
        return self._latest

    def capture_ms_at(self, pts: int) -> int | None:
        """The capture stamp of the frame with 90 kHz ``pts``, if it had one."""
        with self._lock:
            return self._by_tick.get(pts)

    def timestamp_of(self, capture_ms: int) -> float | None:
        """The media time of the frame stamped ``capture_ms`` (s), or ``None``.

        The nearest remembered frame is taken and moved by the difference, so
        a stamp between or beyond the remembered ones still maps (media time
        and capture time advance together). Never later than the newest frame.
        """
        with self._lock:
            if not self._ring:
                return None
            keys = [ms for ms, _ in self._ring]
            i = bisect.bisect_left(keys, capture_ms)
            near = [j for j in (i - 1, i) if 0 <= j < len(keys)]
            j = min(near, key=lambda k: abs(keys[k] - capture_ms))
            ms, timestamp = self._ring[j]
            latest = self._latest if self._latest is not None else timestamp
            return max(0.0, min(latest, timestamp + (capture_ms - ms) / 1000))


class StampKeeper:
    """Two layers that keep the stamp block intact: ``save`` first, ``restore`` last.

    Only one compositor thread may draw with a keeper.
    """

    def __init__(self, clock: CaptureClock | None = None) -> None:
        self.clock = clock or CaptureClock()
        self.save = _SaveStamp(self)
        self.restore = _RestoreStamp(self)
        self._saved: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._saved_at: float | None = None
        self._box: tuple[int, int, int, int] | None = None  # x, y, w, h (luma)

    def _save(self, canvas: YuvCanvas, timestamp: float) -> None:
        stamp = read_stamp(canvas)
        self.clock.record(timestamp, stamp)
        self._saved_at = None
        if stamp is None:
            return
        try:
            geo = stamp_geometry(canvas.width, canvas.height)
        except BadFrame:
            return
        box = (geo.x, geo.y, geo.width, geo.height)
        if self._box != box or self._saved is None:
            self._box = box
            self._saved = (
                np.empty((geo.height, geo.width), np.uint8),
                np.empty((geo.height // 2, geo.width // 2), np.uint8),
                np.empty((geo.height // 2, geo.width // 2), np.uint8),
            )
        for copy, plane in zip(self._saved, _planes(canvas, box), strict=True):
            np.copyto(copy, plane)
        self._saved_at = timestamp

    def _restore(self, canvas: YuvCanvas, timestamp: float) -> None:
        if self._saved is None or self._saved_at != timestamp or self._box is None:
            return
        for plane, copy in zip(_planes(canvas, self._box), self._saved, strict=True):
            np.copyto(plane, copy)


def _planes(
    canvas: YuvCanvas, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y, w, h = box
    cx, cy, cw, ch = x // 2, y // 2, w // 2, h // 2
    return (
        canvas.y[y : y + h, x : x + w],
        canvas.u[cy : cy + ch, cx : cx + cw],
        canvas.v[cy : cy + ch, cx : cx + cw],
    )


class _SaveStamp:
    """Bottom layer: read the stamp, keep a copy of its block."""

    def __init__(self, keeper: StampKeeper) -> None:
        self._keeper = keeper

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        """Read and keep the stamp of the frame at ``timestamp``."""
        self._keeper._save(canvas, timestamp)


class _RestoreStamp:
    """Top layer: write the kept stamp block back."""

    def __init__(self, keeper: StampKeeper) -> None:
        self._keeper = keeper

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        """Put the stamp block of the frame at ``timestamp`` back."""
        self._keeper._restore(canvas, timestamp)
