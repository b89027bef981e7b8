"""The composite feed: one published video, overlays burned in, re-published.

``CompositeFeed`` subscribes to a source ``TrackRelay`` as an internal
subscriber (encoded packets, no ``RTCRtpSender``: keyframe gating and
resynchronisation come with it), decodes once, draws its layers and encodes
once with ``media_core.compositor.Compositor``, and hands every encoded packet
to:

* ``output``, a ``TrackRelay`` that WebRTC viewers subscribe to like any
  published track (their PLI/FIR reach the compositor as a forced IDR);
* the sinks: an ``HlsSegmenter`` and an ``Mp4Recorder`` with its
  ``TimelineWriter``, all optional.

Timeline of the output: the source's pts are moved onto one continuous media
clock (1/90000), so rebinding to another source (the surgeon republished)
continues the output where it was, shifted by the wall time that passed. The
compositor's ``timestamp`` (what layers see) is that clock in seconds.

The publisher's latency stamp survives: ``StampKeeper`` brackets the layers
(see ``stamping``), so viewers of the composite measure true glass-to-glass
latency; HLS segments are dated with the capture stamp of their first frame.

Threading: every method runs on the event loop; decoding, drawing, encoding
and file writing run on the compositor's and the sinks' threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError

from media_core.broadcast.hls import HlsSegmenter
from media_core.broadcast.recorder import Mp4Recorder, TimelineWriter
from media_core.broadcast.sink import TICKS, TIME_BASE, PacketSink
from media_core.broadcast.stamping import StampKeeper
from media_core.compositor import Compositor, EncoderSettings
from media_core.errors import CompositorClosed, MediaError
from media_core.layers import Layer, TimelineLayer
from media_core.metrics import SessionMetrics
from media_core.relay import KEYFRAME_INTERVAL, RelayTrack, TrackRelay
from media_core.stamps import wall_clock_ms

logger = logging.getLogger(__name__)

DECODABLE = ("h264", "vp8")
#: Seconds between rewrites of the timeline file while recording.
TIMELINE_FLUSH_S = 5.0
#: A capture stamp further than this from now (ms) is not used as a date.
WALL_CLOCK_SLACK_MS = 60_000


@dataclass(slots=True)
class FeedCounters:
    """What the feed did, JSON-safe via ``asdict``."""

    binds: int = 0
    source_ended: int = 0
    packets_in: int = 0
    packets_out: int = 0
    timeline_events: int = 0
    layer_errors: int = 0


class CompositeFeed:
    """Composite one source with ``layers`` into ``output`` and the sinks.

    ``layers`` are drawn bottom first between the stamp keeper's two layers;
    put an annotation layer that tracks the picture first. ``settings`` are
    the compositor's (H.264 by default). ``hls``, ``recorder`` and
    ``timeline`` are optional and owned by the feed from ``start`` on.
    """

    def __init__(
        self,
        name: str,
        layers: Sequence[Layer] = (),
        *,
        settings: EncoderSettings | None = None,
        hls: HlsSegmenter | None = None,
        recorder: Mp4Recorder | None = None,
        timeline: TimelineWriter | None = None,
        keyframe_interval: float = KEYFRAME_INTERVAL,
        metrics: SessionMetrics | None = None,
    ) -> None:
        self.name = name
        self.layers = tuple(layers)
        self.settings = settings or EncoderSettings()
        if self.settings.codec != "h264":
            raise MediaError("the composite feed publishes H.264")
        self.hls = hls
        self.recorder = recorder
        self.timeline = timeline if recorder is not None else None
        self.metrics = metrics or SessionMetrics(f"composite:{name}")
        self.counters = FeedCounters()
        self.keeper = StampKeeper()
        self.output = TrackRelay(
            "video",
            self._output_keyframe,
            name=f"composite:{name}",
            keyframe_interval=keyframe_interval,
        )
        self.source_id: str | None = None
        self._sinks: list[PacketSink] = [s for s in (hls, recorder) if s is not None]
        self._timeline_layers = [x for x in self.layers if isinstance(x, TimelineLayer)]
        self._compositor: Compositor | None = None
        self._codec: str | None = None
        self._output_task: asyncio.Task[None] | None = None
        self._source: RelayTrack | None = None
        self._input_task: asyncio.Task[None] | None = None
        self._frame_ticks = round(TICKS / self.settings.fps)
        self._shift: int | None = None
        self._last_pts: int | None = None
        self._last_in_at = 0.0
        self._timeline_due = 0.0
        self._timeline_task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start the sinks' writer threads (the compositor starts on ``bind``)."""
        if self._started:
            raise MediaError(f"feed {self.name} already started")
        self._started = True
        for sink in self._sinks:
            sink.start()

    @property
    def live(self) -> bool:
        """Whether a source is bound and still sending."""
        return self._input_task is not None and not self._input_task.done()

    async def bind(self, source: TrackRelay, codec: str, source_id: str) -> None:
        """Composite ``source`` (encoded ``codec``) from its next keyframe on.

        Replaces any previous source; the output continues without a restart
        unless the codec changes (then the encoder restarts with an IDR).
        """
        if self._closed or not self._started:
            raise MediaError(f"feed {self.name} is not running")
        if codec not in DECODABLE:
            raise MediaError(f"cannot composite {codec!r} video")
        await self._unbind()
        output = self._output_task
        # A new codec needs a new decoder; a finished output, a new compositor.
        if codec != self._codec or output is None or output.done():
            await self._stop_compositor()
            self._start_compositor(codec)
        self._shift = None
        self._source = source.subscribe(f"composite:{self.name}")
        self.source_id = source_id
        self._input_task = asyncio.ensure_future(self._pump_input(self._source))
        self.counters.binds += 1
        logger.info("composite %s: source %s (%s)", self.name, source_id, codec)

    async def stop(self) -> dict[str, Any] | None:
        """Flush everything, finish the files; the recording's facts, if any."""
        if self._closed:
            return None
        self._closed = True
        await self._unbind()
        await self._stop_compositor()
        self.output.close()
        await asyncio.gather(*(sink.aclose() for sink in self._sinks))
        if self._timeline_task is not None:
            await asyncio.gather(self._timeline_task, return_exceptions=True)
        if self.recorder is None:
            return None
        info = self.recorder.info()
        # Written even when nothing was recorded, so the file always exists.
        await self._write_timeline()
        return info

    # -- input -----------------------------------------------------------------

    async def _unbind(self) -> None:
        track, task = self._source, self._input_task
        self._source = self._input_task = None
        if track is not None:
            track.stop()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _pump_input(self, track: RelayTrack) -> None:
        try:
            while True:
                packet = await track.recv()
                self._submit(packet)
        except MediaStreamError:
            # The publisher left or republished: the output stays up and
            # waits for the next bind.
            self.counters.source_ended += 1
            logger.info("composite %s: source %s ended", self.name, self.source_id)
        except MediaError:
            # The compositor's thread died (logged there); a rebind or stop
            # starts over.
            logger.error("composite %s: compositor stopped; input idle", self.name)

    def _submit(self, packet: av.Packet) -> None:
        compositor = self._compositor
        if compositor is None or packet.pts is None:
            return
        self.counters.packets_in += 1
        pts = int(packet.pts * packet.time_base / TIME_BASE) if packet.time_base else 0
        now = time.monotonic()
        if self._shift is None or (
            self._last_pts is not None and pts + self._shift <= self._last_pts
        ):
            # A new source (or one whose clock jumped back) continues the
            # output clock, advanced by the wall time since the last frame.
            start = 0
            if self._last_pts is not None:
                gap = round((now - self._last_in_at) * TICKS)
                start = self._last_pts + max(self._frame_ticks, gap)
            self._shift = start - pts
        self._last_in_at = now
        # A copy: the source's packet goes on to passthrough viewers as it is.
        copy = av.Packet(packet)
        copy.pts = copy.dts = pts + self._shift
        copy.time_base = TIME_BASE
        copy.is_keyframe = packet.is_keyframe
        self._last_pts = copy.pts
        compositor.submit_packet(copy)

    def _source_keyframe(self) -> None:
        if self._source is not None:
            self._source.request_keyframe()

    # -- compositor and output -------------------------------------------------

    def _start_compositor(self, codec: str) -> None:
        layers = [self.keeper.save, *self.layers, self.keeper.restore]
        compositor = Compositor(
            layers,
            settings=self.settings,
            decoder=codec,
            metrics=self.metrics,
            on_keyframe_needed=self._source_keyframe,
            name=f"composite-{self.name}",
        )
        compositor.start()
        self._compositor, self._codec = compositor, codec
        self._output_task = asyncio.ensure_future(self._pump_output(compositor))

    async def _stop_compositor(self) -> None:
        compositor, task = self._compositor, self._output_task
        self._compositor = self._output_task = None
        if compositor is not None:
            await compositor.stop()
        if task is not None:
            # Ends once the flushed packets are delivered (CompositorClosed).
            await task

    def _output_keyframe(self) -> bool:
        if self._compositor is None:
            return False  # the relay retries shortly
        self._compositor.request_keyframe()
        return True

    async def _pump_output(self, compositor: Compositor) -> None:
        while True:
            try:
                packet = await compositor.recv()
            except CompositorClosed:
                return
            self._deliver(packet)

    def _deliver(self, packet: av.Packet) -> None:
        self.counters.packets_out += 1
        self.output.push(packet)
        now = wall_clock_ms()
        capture = self.keeper.clock.capture_ms_at(packet.pts)
        if capture is not None and abs(now - capture) > WALL_CLOCK_SLACK_MS:
            capture = None  # a stamp, but not a wall-clock time (a test source)
        if capture is not None:
            self.metrics.record("capture_to_output", now - capture)
        for sink in self._sinks:
            sink.push(packet, capture if capture is not None else now)
        if self.timeline is not None and self.recorder is not None:
            self._note_timeline(float(packet.pts * TIME_BASE))

    # -- timeline --------------------------------------------------------------

    def _note_timeline(self, timestamp: float) -> None:
        timeline, first = self.timeline, self.recorder.first if self.recorder else None
        if timeline is None or first is None:
            return
        if timeline.origin is None:
            timeline.begin(first.wall_ms, first.pts / TICKS)
        origin = timeline.origin
        assert origin is not None  # noqa: S101
        for layer in self._timeline_layers:
            try:
                event = layer.timeline_event(timestamp, origin)
            except Exception:  # noqa: BLE001  (a layer bug must not stop the output)
                self.counters.layer_errors += 1
                if self.counters.layer_errors % 300 == 1:
                    logger.exception("composite %s: timeline of %r", self.name, layer)
                continue
            if event is not None:
                timeline.add(event)
                self.counters.timeline_events += 1
        now = time.monotonic()
        if now >= self._timeline_due and self._timeline_task is None:
            self._timeline_due = now + TIMELINE_FLUSH_S
            self._timeline_task = asyncio.ensure_future(self._flush_timeline())

    async def _flush_timeline(self) -> None:
        try:
            await self._write_timeline()
        finally:
            self._timeline_task = None

    async def _write_timeline(self) -> None:
        if self.timeline is None or self.recorder is None:
            return
        duration = self.recorder.duration_s
        try:
            await asyncio.to_thread(self.timeline.write, duration)
        except (OSError, ValueError) as exc:
            logger.warning("composite %s: timeline not written: %s", self.name, exc)

    # -- figures ---------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """JSON-safe counters of the feed, its compositor, output and sinks."""
        out: dict[str, Any] = {"name": self.name, "source": self.source_id}
        out["live"] = self.live
        out.update(asdict(self.counters))
        compositor = self._compositor
        out["compositor"] = compositor.stats if compositor is not None else None
        out["stamps"] = {
            "read": self.keeper.clock.stamped,
            "missing": self.keeper.clock.unstamped,
        }
        out["output"] = self.output.stats()
        out["hls"] = self.hls.stats() if self.hls is not None else None
        out["recording"] = self.recorder.stats() if self.recorder is not None else None
        return out
