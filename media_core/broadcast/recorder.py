"""Recording the composite feed: an MP4 of the encoded output and its timeline.

``Mp4Recorder(path)`` muxes the compositor's H.264 packets into MP4 without
re-encoding, on its own thread (see ``sink.PacketSink``). The file is a
*fragmented* MP4 (one fragment per GOP, flushed to disk as it completes), so
a worker that dies mid-recording leaves a file that plays up to its last
complete fragment, about one keyframe interval short; ``close`` finishes it
properly. Timestamps start at 0 on the recording's first (key)frame. If the
picture size changes mid-recording (a new source) the new SPS travels in-band:
FFmpeg-based players follow it; some others keep the first size.

``TimelineWriter(path)`` keeps the recording's events (annotation snapshots,
vitals numerics) and writes them as one JSON document, atomically (temp file
and ``os.replace``), whenever ``write`` is called: the feed does so every few
seconds and at the end::

    {"version": 1, "started_at_ms": <Unix ms of the first frame>,
     "duration_s": <seconds>, "events": [{"t": <s from recording start>,
     "type": "annotations" | "vitals", ...}, ...]}
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import av

from media_core.broadcast.sink import TICKS, EncodedFrame, PacketSink, h264_template
from media_core.layers import TimelineEvent

logger = logging.getLogger(__name__)

#: Fragment at every keyframe, no sample tables up front, flush each fragment.
_MP4_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "flush_packets": "1",
}
MAX_EVENTS = 50_000


class Mp4Recorder(PacketSink):
    """Records one encoded feed to ``path`` (``.mp4``); see the module doc.

    After ``close``: ``duration_s`` (first to last frame plus one frame),
    ``size`` (bytes on disk) and ``first.wall_ms`` (when the first frame was
    captured, Unix ms).
    """

    def __init__(
        self, path: Path, *, queue_size: int = 150, name: str = "recorder"
    ) -> None:
        super().__init__(name, queue_size=queue_size)
        self.path = Path(path)
        self.duration_s = 0.0
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._origin: int | None = None
        self._last_pts: int | None = None
        self._frame_ticks = 3000

    def start(self) -> None:
        """Create the parent directory and start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        super().start()

    @property
    def size(self) -> int:
        """Bytes written so far (0 before the file exists)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def info(self) -> dict[str, Any]:
        """``duration_s``, ``bytes`` and ``started_at_ms`` (``None`` if empty)."""
        return {
            "duration_s": round(self.duration_s, 3),
            "bytes": self.size,
            "started_at_ms": self.first.wall_ms if self.first else None,
        }

    # -- writer thread ---------------------------------------------------------

    def _write(self, frame: EncodedFrame) -> None:
        if self._container is None:
            if not frame.keyframe:
                return
            self._open(frame)
        assert self._stream is not None and self._container is not None  # noqa: S101
        if self._origin is None:
            self._origin = frame.pts
        if self._last_pts is not None and frame.pts > self._last_pts:
            self._frame_ticks = min(frame.pts - self._last_pts, TICKS)
        self._container.mux(frame.packet(self._stream, -self._origin))
        self._last_pts = frame.pts
        self.duration_s = (frame.pts - self._origin + self._frame_ticks) / TICKS

    def _open(self, frame: EncodedFrame) -> None:
        container = av.open(str(self.path), "w", format="mp4", options=_MP4_OPTIONS)
        try:
            with h264_template(frame.data) as template:
                self._stream = container.add_stream_from_template(template)
        except BaseException:
            container.close()
            raise
        self._container = container

    def _finish(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            container.close()


class TimelineWriter:
    """The events of one recording, written as JSON beside the video.

    ``begin`` (once the recording's first frame is known) and ``add`` run on
    the event loop; ``document`` copies the state for ``write``, which may run
    on any thread. Events past ``max_events`` are counted in ``dropped``.
    """

    def __init__(self, path: Path, *, max_events: int = MAX_EVENTS) -> None:
        self.path = Path(path)
        self.max_events = max_events
        self.started_at_ms: int | None = None
        self.origin: float | None = None
        self.dropped = 0
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def events(self) -> list[dict[str, Any]]:
        """A copy of the events so far."""
        with self._lock:
            return list(self._events)

    def begin(self, started_at_ms: int, origin: float) -> None:
        """Start the clock: ``origin`` is the first frame's media time (s)."""
        self.started_at_ms, self.origin = int(started_at_ms), float(origin)

    def add(self, event: TimelineEvent) -> None:
        """Append ``event`` at ``t`` = its media time minus the origin (>= 0)."""
        if self.origin is None:
            return
        entry: dict[str, Any] = {
            "t": round(max(0.0, event.timestamp - self.origin), 3),
            "type": event.type,
        }
        entry.update(event.body)
        with self._lock:
            if len(self._events) >= self.max_events:
                self.dropped += 1
                return
            self._events.append(entry)

    def document(self, duration_s: float) -> dict[str, Any]:
        """The JSON document as it stands (a shallow copy of the event list)."""
        return {
            "version": 1,
            "started_at_ms": self.started_at_ms,
            "duration_s": round(duration_s, 3),
            "events": self.events,
        }

    def write(self, duration_s: float) -> None:
        """Write the document atomically (blocking: call it off the loop)."""
        write_json(self.path, self.document(duration_s))


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` through a temp file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(document, separators=(",", ":"), allow_nan=False))
    os.replace(temp, path)
