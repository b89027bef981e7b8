"""One compositor per feed: decode once, draw the layers, encode once.

Threading contract: ``submit_*``, ``request_keyframe``, ``recv`` and ``stop``
run on the event loop. Decoding, drawing and encoding run on one dedicated
worker thread, fed through a bounded thread-safe queue; encoded packets come
back with ``loop.call_soon_threadsafe`` into a bounded output queue.

Dropping rules, so that latency and memory stay bounded and the output never
stays corrupt:

* decoded frames (input frames, or frames decoded from packets) are dropped
  before drawing and encoding whenever the worker is behind;
* encoded input packets are never dropped one by one: on overflow the whole
  input backlog is discarded and input resumes at the next keyframe;
* when the output queue overflows it is flushed, packets are discarded up to
  the next keyframe, and the encoder is told to make the next frame an IDR.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence

import av

from media_core.canvas import YuvCanvas
from media_core.compositor.encoding import (
    TIME_BASE,
    EncoderSettings,
    is_keyframe_packet,
    open_decoder,
    open_encoder,
)
from media_core.compositor.frames import FramePreparer
from media_core.compositor.queues import STOP, InputQueue
from media_core.errors import BadFrame, CompositorClosed, MediaError
from media_core.layers import Layer
from media_core.metrics import SessionMetrics

logger = logging.getLogger(__name__)

_EVENTS = (
    "frames_in",
    "frames_dropped",
    "frames_encoded",
    "packets_in",
    "packets_dropped_in",
    "packets_out",
    "packets_dropped_out",
    "keyframes_forced",
    "layer_errors",
    "bad_frames",
    "decode_errors",
    "encode_errors",
)


class Compositor:
    """Draw ``layers`` onto one feed and re-encode it, off the event loop.

    Feed it either decoded frames (``submit_frame``) or encoded packets of
    codec ``decoder`` (``submit_packet``); read encoded ``av.Packet``s (pts in
    1/90000) with ``recv`` or ``async for``. ``stats`` counts every drop.
    ``decoder_thread_type`` is passed to ``open_decoder`` (``SLICE``: lowest
    latency; ``AUTO``: more throughput, one frame later).
    """

    def __init__(
        self,
        layers: Sequence[Layer] = (),
        *,
        settings: EncoderSettings | None = None,
        decoder: str | None = None,
        decoder_thread_type: str = "SLICE",
        metrics: SessionMetrics | None = None,
        input_size: int = 8,
        output_size: int = 60,
        drop_backlog: int = 2,
        on_keyframe_needed: Callable[[], None] | None = None,
        name: str = "compositor",
    ) -> None:
        if input_size < 1 or output_size < 1 or drop_backlog < 1:
            raise ValueError("queue sizes and drop_backlog must be positive")
        self.settings = settings or EncoderSettings()
        self.metrics = metrics or SessionMetrics(name)
        self.name = name
        self._layers: tuple[Layer, ...] = tuple(layers)
        self._decoder_name = decoder
        self._decoder_thread_type = decoder_thread_type
        self._input = InputQueue(input_size)
        self._output: collections.deque[av.Packet] = collections.deque()
        self._output_size = output_size
        self._drop_backlog = drop_backlog
        self._on_keyframe_needed = on_keyframe_needed
        self._counts = dict.fromkeys(_EVENTS, 0)
        self._counts_lock = threading.Lock()
        self._force_keyframe = False
        self._await_input_key = True
        self._await_output_key = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ended = False
        self._stopping = False
        self._prepare = FramePreparer(self.settings.fps)
        self._encoder: av.CodecContext | None = None
        self._decode_broken = False

    # -- event-loop side -------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread; call from the event loop that will ``recv``."""
        if self._thread is not None:
            raise MediaError("compositor already started")
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"{self.name}-worker", daemon=True
        )
        self._thread.start()

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layers drawn on every frame, bottom first."""
        return self._layers

    def set_layers(self, layers: Sequence[Layer]) -> None:
        """Replace the layers; takes effect from the next frame."""
        # Swapping one tuple reference is atomic, so the worker needs no lock.
        self._layers = tuple(layers)

    @property
    def pending(self) -> int:
        """Items waiting in the input queue."""
        return len(self._input)

    @property
    def output_pending(self) -> int:
        """Encoded packets waiting for ``recv``."""
        return len(self._output)

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the event counters (drops, errors, frames)."""
        with self._counts_lock:
            return dict(self._counts)

    def submit_frame(self, frame: av.VideoFrame) -> bool:
        """Queue a decoded frame; return False if an older frame had to be dropped.

        The compositor takes the frame over and draws into it: do not reuse it.
        """
        if not isinstance(frame, av.VideoFrame):
            raise BadFrame(f"expected an av.VideoFrame, got {type(frame).__name__}")
        self._check_open()
        self._count("frames_in")
        dropped = self._input.put_dropping_oldest(frame)
        if dropped:
            self._count("frames_dropped", dropped)
        return not dropped

    def submit_packet(self, packet: av.Packet) -> bool:
        """Queue an encoded packet; return False if it was discarded.

        Packets are discarded only while waiting for a keyframe: at the start
        and after an input overflow, which also asks upstream for a keyframe.
        """
        if self._decoder_name is None:
            raise MediaError("this compositor was built without a decoder")
        self._check_open()
        self._count("packets_in")
        if self._await_input_key:
            if not is_keyframe_packet(packet, self._decoder_name):
                self._count("packets_dropped_in")
                return False
            self._await_input_key = False
        if not self._input.put_if_room(packet):
            discarded = self._input.clear() + 1
            self._count("packets_dropped_in", discarded)
            self._await_input_key = True
            logger.warning(
                "%s: input overflow, %s packets discarded", self.name, discarded
            )
            if self._on_keyframe_needed is not None:
                self._on_keyframe_needed()
            return False
        return True

    def request_keyframe(self) -> None:
        """Make the next encoded frame a keyframe (e.g. on a subscriber's PLI)."""
        self._force_keyframe = True

    async def recv(self) -> av.Packet:
        """The next encoded packet; ``CompositorClosed`` once stopped and drained."""
        assert self._ready is not None, "start() first"  # noqa: S101
        while True:
            if self._output:
                return self._output.popleft()
            if self._ended:
                raise CompositorClosed(f"{self.name} has stopped")
            self._ready.clear()
            await self._ready.wait()

    def __aiter__(self) -> AsyncIterator[av.Packet]:
        """Iterate over encoded packets until the compositor stops."""
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[av.Packet]:
        while True:
            try:
                yield await self.recv()
            except CompositorClosed:
                return

    async def stop(self, join_timeout: float = 10.0) -> None:
        """Flush the encoder, join the worker and end ``recv`` once drained."""
        self._stopping = True
        self._input.put_stop()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, join_timeout)
            if self._thread.is_alive():
                logger.error(
                    "%s: worker still running after %ss", self.name, join_timeout
                )
        self._finish()

    def _check_open(self) -> None:
        if self._thread is None or self._stopping:
            raise MediaError(f"{self.name} is not running")

    def _count(self, event: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[event] += n
        self.metrics.incr(event, n)

    def _deliver(self, packets: list[av.Packet]) -> None:
        """Runs on the loop: queue packets, or drop up to the next keyframe."""
        for packet in packets:
            if self._await_output_key:
                if not packet.is_keyframe:
                    self._count("packets_dropped_out")
                    continue
                self._await_output_key = False
            if len(self._output) >= self._output_size:
                # A stale backlog is worth nothing live: flush it and restart
                # the consumer on a fresh IDR.
                self._count("packets_dropped_out", len(self._output) + 1)
                self._output.clear()
                self._await_output_key = True
                self.request_keyframe()
                continue
            self._output.append(packet)
            self._count("packets_out")
        if self._ready is not None:
            self._ready.set()

    def _finish(self) -> None:
        self._ended = True
        if self._ready is not None:
            self._ready.set()

    def _post(self, callback: Callable[..., None], *args: object) -> None:
        assert self._loop is not None  # noqa: S101
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            # The loop closed under us: nobody is left to read the output.
            logger.debug("%s: loop closed, output discarded", self.name)

    # -- worker thread ---------------------------------------------------------

    def _run(self) -> None:
        decoder = None
        if self._decoder_name:
            decoder = open_decoder(self._decoder_name, self._decoder_thread_type)
        try:
            while True:
                item = self._input.get()
                if item is STOP:
                    if decoder is not None:
                        self._drain_decoder(decoder)
                    break
                if isinstance(item, av.Packet):
                    assert decoder is not None  # noqa: S101
                    frames = self._decode(decoder, item)
                else:
                    frames = [item]
                for frame in frames:
                    if len(self._input) >= self._drop_backlog:
                        self._count("frames_dropped")
                        continue
                    self._process(frame)
        except Exception:
            logger.exception("%s: worker crashed", self.name)
            self._stopping = True  # refuse further input
        finally:
            packets = self._flush_encoder()
            if packets:
                self._post(self._deliver, packets)
            self._post(self._finish)

    def _drain_decoder(self, decoder: av.CodecContext) -> None:
        """Encode the frames a frame-threaded decoder still holds at shutdown."""
        try:
            frames = list(decoder.decode(None))
        except av.FFmpegError as exc:
            logger.warning("%s: decoder flush failed: %s", self.name, exc)
            return
        for frame in frames:
            self._process(frame)

    def _decode(
        self, decoder: av.CodecContext, packet: av.Packet
    ) -> list[av.VideoFrame]:
        if self._decode_broken:
            # After an error every inter frame would decode as garbage.
            if not is_keyframe_packet(packet, decoder.name):
                self._count("packets_dropped_in")
                return []
            self._decode_broken = False
        try:
            with self.metrics.time("decode"):
                return list(decoder.decode(packet))
        except av.FFmpegError as exc:
            self._count("decode_errors")
            self._decode_broken = True
            logger.warning("%s: decode error: %s", self.name, exc)
            if self._on_keyframe_needed is not None:
                self._post(self._on_keyframe_needed)
            return []

    def _process(self, frame: av.VideoFrame) -> None:
        try:
            frame = self._prepare(frame)
        except BadFrame as exc:
            self._count("bad_frames")
            logger.warning("%s: skipping frame: %s", self.name, exc)
            return
        canvas = YuvCanvas.from_frame(frame)
        timestamp = float(frame.pts * TIME_BASE)
        with self.metrics.time("draw"):
            for layer in self._layers:
                self._draw(layer, canvas, timestamp)
        with self.metrics.time("encode"):
            packets = self._encode(frame)
        if packets:
            self._post(self._deliver, packets)

    def _draw(self, layer: Layer, canvas: YuvCanvas, timestamp: float) -> None:
        try:
            layer.draw(canvas, timestamp)
        except Exception:
            self._count("layer_errors")
            # Log the first failure fully, then only a line now and then.
            errors = self._counts["layer_errors"]
            if errors == 1 or errors % 300 == 0:
                logger.exception("%s: layer %r failed (%s)", self.name, layer, errors)

    def _encode(self, frame: av.VideoFrame) -> list[av.Packet]:
        encoder = self._encoder
        if encoder is None or (encoder.width, encoder.height) != (
            frame.width,
            frame.height,
        ):
            packets = self._flush_encoder()
            try:
                encoder = self._encoder = open_encoder(
                    self.settings, frame.width, frame.height
                )
            except (av.FFmpegError, MediaError) as exc:
                self._count("encode_errors")
                logger.warning("%s: cannot open encoder: %s", self.name, exc)
                return packets
            self._force_keyframe = False
        else:
            packets = []
        if self._force_keyframe:
            self._force_keyframe = False
            frame.pict_type = av.video.frame.PictureType.I
            self._count("keyframes_forced")
        try:
            out = encoder.encode(frame)
        except av.FFmpegError as exc:
            self._count("encode_errors")
            logger.warning("%s: encode error: %s", self.name, exc)
            return packets
        self._count("frames_encoded")
        for packet in out:
            packet.time_base = TIME_BASE
        return packets + list(out)

    def _flush_encoder(self) -> list[av.Packet]:
        """Drain and drop the encoder (``encode(None)``), returning its last packets."""
        encoder, self._encoder = self._encoder, None
        if encoder is None:
            return []
        try:
            packets = list(encoder.encode(None))
        except av.FFmpegError as exc:
            logger.warning("%s: flush failed: %s", self.name, exc)
            return []
        for packet in packets:
            packet.time_base = TIME_BASE
        return packets
