"""What every broadcast sink shares: a bounded queue into one writer thread.

A sink (the HLS segmenter, the MP4 recorder) takes the compositor's encoded
H.264 output on the event loop with ``push`` and writes it on its own thread,
so file I/O and muxing never run on the loop. ``push`` never blocks:

* the first frame a sink accepts is a keyframe (a file must start decodable);
* when the queue is full the frame is dropped, and so is every following one
  up to the next keyframe (a gap inside a GOP would decode as garbage), each
  counted in ``counters.dropped`` and each overflow in ``counters.overflows``.

Packets are copied into immutable ``EncodedFrame``\\ s on the loop: the same
``av.Packet`` goes on to the WebRTC relay, and PyAV's ``mux`` rewrites a
packet's timestamps in place.
"""

from __future__ import annotations

import abc
import asyncio
import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fractions import Fraction

import av

from media_core.compositor.queues import STOP, InputQueue
from media_core.errors import MediaError
from media_core.stamps import wall_clock_ms

logger = logging.getLogger(__name__)

#: Every sink works in the compositor's (and RTP's) 90 kHz video clock.
TIME_BASE = Fraction(1, 90000)
TICKS = 90000


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded H.264 access unit (Annex B) as a sink keeps it.

    ``pts``/``dts`` are in 1/90000 s; ``wall_ms`` is the frame's wall-clock
    time in Unix epoch ms (its capture stamp when known).
    """

    data: bytes
    pts: int
    dts: int
    keyframe: bool
    wall_ms: int

    @classmethod
    def of(cls, packet: av.Packet, wall_ms: int | None = None) -> EncodedFrame:
        """Copy ``packet`` (pts in any time base) into 90 kHz ticks."""
        if packet.pts is None:
            raise MediaError("an encoded frame needs a pts")
        base = Fraction(packet.time_base) if packet.time_base else TIME_BASE
        pts = int(packet.pts * base / TIME_BASE)
        dts = pts if packet.dts is None else int(packet.dts * base / TIME_BASE)
        return cls(
            bytes(packet),
            pts,
            dts,
            bool(packet.is_keyframe),
            wall_clock_ms() if wall_ms is None else int(wall_ms),
        )

    def packet(
        self, stream: av.video.stream.VideoStream, pts_shift: int = 0
    ) -> av.Packet:
        """A fresh ``av.Packet`` for ``stream``, timestamps moved by ``pts_shift``."""
        packet = av.Packet(self.data)
        packet.pts = self.pts + pts_shift
        packet.dts = self.dts + pts_shift
        packet.time_base = TIME_BASE
        packet.is_keyframe = self.keyframe
        packet.stream = stream
        return packet


@contextmanager
def h264_template(keyframe: bytes) -> Iterator[av.video.stream.VideoStream]:
    """A parsed H.264 stream (size, SPS/PPS extradata) to copy an output stream from.

    ``add_stream("h264")`` would open a libx264 *encoder* when the header is
    written (slow, and for MP4 its global header would carry the wrong
    SPS/PPS); ``add_stream_from_template`` of this parsed stream does not. The
    template must stay open while the output stream is created from it.
    """
    container = av.open(io.BytesIO(keyframe), format="h264")
    try:
        yield container.streams.video[0]
    finally:
        container.close()


@dataclass(slots=True)
class SinkCounters:
    """Per-sink counts, JSON-safe via ``asdict``."""

    accepted: int = 0
    dropped: int = 0
    overflows: int = 0
    written: int = 0
    out_of_order: int = 0
    errors: int = 0


class PacketSink(abc.ABC):
    """A bounded, keyframe-gated queue into one writer thread (see module doc).

    Subclasses implement ``_write`` (one frame, writer thread) and
    ``_finish`` (writer thread, once, after the last frame or on a crash).
    """

    def __init__(self, name: str, *, queue_size: int = 90) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be positive")
        self.name = name
        self.counters = SinkCounters()
        #: The first frame accepted (the start of the output), set on the loop.
        self.first: EncodedFrame | None = None
        self._queue = InputQueue(queue_size)
        self._await_key = True
        self._last_dts: int | None = None
        self._thread: threading.Thread | None = None
        self._closing = False

    @property
    def pending(self) -> int:
        """Frames waiting for the writer thread."""
        return len(self._queue)

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is not None:
            raise MediaError(f"{self.name} already started")
        self._thread = threading.Thread(
            target=self._run, name=f"{self.name}-writer", daemon=True
        )
        self._thread.start()

    def push(self, packet: av.Packet, wall_ms: int | None = None) -> bool:
        """Queue one encoded frame (event loop; never blocks); ``False`` if dropped."""
        if self._closing or self._thread is None:
            return False
        keyframe = bool(packet.is_keyframe)
        if self._await_key and not keyframe:
            self.counters.dropped += 1
            return False
        frame = EncodedFrame.of(packet, wall_ms)
        if not self._queue.put_if_room(frame):
            if not self._await_key:
                self.counters.overflows += 1
                logger.warning("%s: writer behind; dropping to a keyframe", self.name)
            self.counters.dropped += 1
            self._await_key = True
            return False
        self._await_key = False
        if self.first is None:
            self.first = frame
        self.counters.accepted += 1
        return True

    def close(self, join_timeout: float = 10.0) -> None:
        """Write what is queued, finish the output and join the thread (blocking)."""
        self._closing = True
        if self._thread is None:
            return
        self._queue.put_stop()
        self._thread.join(join_timeout)
        if self._thread.is_alive():
            logger.error("%s: writer still busy after %ss", self.name, join_timeout)

    async def aclose(self, join_timeout: float = 10.0) -> None:
        """``close`` without blocking the event loop."""
        await asyncio.to_thread(self.close, join_timeout)

    def stats(self) -> dict[str, int]:
        """JSON-safe counters plus the current backlog."""
        out = asdict(self.counters)
        out["pending"] = self.pending
        return out

    # -- writer thread ---------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is STOP:
                    break
                assert isinstance(item, EncodedFrame)  # noqa: S101
                if self._last_dts is not None and item.dts <= self._last_dts:
                    # A muxer refuses non-increasing dts; such a frame can only
                    # come from a source switch gone wrong.
                    self.counters.out_of_order += 1
                    continue
                self._last_dts = item.dts
                try:
                    self._write(item)
                    self.counters.written += 1
                except (av.FFmpegError, OSError, ValueError) as exc:
                    self.counters.errors += 1
                    if self.counters.errors == 1 or self.counters.errors % 100 == 0:
                        logger.warning("%s: write failed: %s", self.name, exc)
        finally:
            try:
                self._finish()
            except (av.FFmpegError, OSError, ValueError):
                logger.exception("%s: could not finish its output", self.name)

    @abc.abstractmethod
    def _write(self, frame: EncodedFrame) -> None:
        """Write one frame (on the writer thread)."""

    @abc.abstractmethod
    def _finish(self) -> None:
        """Close the output (on the writer thread, once, after the last frame)."""
