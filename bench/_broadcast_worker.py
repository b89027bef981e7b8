"""The measured side of ``bench/broadcast.py``: transport and the re-encode baseline."""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402
from _fanout_peers import _config, _h264_only  # noqa: E402
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.contrib.media import MediaRelay  # noqa: E402
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack  # noqa: E402

from media_core.broadcast import StampKeeper, VitalsOverlay  # noqa: E402
from media_core.canvas import YuvCanvas  # noqa: E402
from media_core.layers import Layer  # noqa: E402

#: Counting viewers per process; viewer ``v00``, which decodes, has its own.
PER_PROCESS = 10


def viewer_process(name: str) -> int:
    """Which viewer process holds viewer ``name`` (``v00``, ``v01``, ...)."""
    index = int(name[1:])
    return 0 if index == 0 else 1 + (index - 1) // PER_PROCESS


def viewer_groups(n: int) -> list[list[str]]:
    """The names of ``n`` viewers, grouped by process (``v00`` alone first)."""
    groups: list[list[str]] = []
    for i in range(n):
        name = f"v{i:02d}"
        if viewer_process(name) == len(groups):
            groups.append([])
        groups[-1].append(name)
    return groups


class PipeTransport:
    """A worker ``Transport`` over the bench's pipes.

    Replies to ``pub`` go to the publisher (its answer SDP only), to ``ctl``
    into ``local`` (the bench's own control messages), to ``vNN`` to its
    viewer process (``viewer_process``). Room events are not needed.
    """

    def __init__(self, pub: Connection, views: list[Connection]) -> None:
        self.pub, self.views = pub, views
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.local: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive(self) -> dict[str, Any]:
        """The next message for the worker."""
        return await self.inbox.get()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Route one reply by channel name."""
        if channel == "pub":
            if message["type"] == "media.answer":
                self.pub.send(message["sdp"])
        elif channel == "ctl":
            self.local.put_nowait(message)
        else:
            self.views[viewer_process(channel)].send((channel, message))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Room events: unused here."""


async def loop_stalls(out: list[float]) -> None:
    """Append how late each 10 ms sleep wakes up (s), until cancelled."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        out.append(max(0.0, time.perf_counter() - before - 0.01))


class LayeredTrack(MediaStreamTrack):
    """The newest decoded frame with the layers drawn on a one-thread executor.

    aiortc's receiver queues decoded frames without bound: when drawing and
    encoding fall behind, latency and memory (3 MB a 1080p frame) grow for
    ever. Reading it continuously and keeping only the newest frame keeps
    the baseline bounded, and fair.
    """

    kind = "video"

    def __init__(self, source: MediaStreamTrack, layers: list[Layer]) -> None:
        super().__init__()
        self.source, self.layers = source, layers
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="layers")
        self._latest: av.VideoFrame | None = None
        self._fresh = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            while True:
                self._latest = await self.source.recv()
                self._fresh.set()
        except MediaStreamError:
            return  # the publisher hung up at the end of the case

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        """The newest source frame with the overlays burned in."""
        await self._fresh.wait()
        self._fresh.clear()
        frame, self._latest = self._latest, None
        assert frame is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._draw, frame)

    def _draw(self, frame: av.VideoFrame) -> av.VideoFrame:
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        else:
            frame.make_writable()
        canvas = YuvCanvas.from_frame(frame)
        timestamp = float(frame.pts * (frame.time_base or Fraction(1, 90000)))
        for layer in self.layers:
            layer.draw(canvas, timestamp)
        return frame


class BaselineRelay:
    """aiortc as it comes: decode, draw, ``MediaRelay``, one encoder per viewer."""

    def __init__(self, transport: PipeTransport, annotations: dict[str, Any]) -> None:
        from surgery_guidance.telestration.live import LiveAnnotationLayer

        self.transport = transport
        keeper = StampKeeper()
        marks = LiveAnnotationLayer()
        marks.update(annotations)
        self.layers: list[Layer] = [
            keeper.save,
            marks,
            VitalsOverlay("stemi"),
            keeper.restore,
        ]
        self.relay = MediaRelay()
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.layered: LayeredTrack | None = None
        self.sent: dict[str, int] = {}

    async def publish(self, sdp: str) -> None:
        """Answer the publisher; decoded frames feed the layered track."""
        pc = self.pcs["pub"] = RTCPeerConnection(_config())
        ready = asyncio.Event()

        @pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            self.layered = LayeredTrack(track, self.layers)
            ready.set()

        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self.transport.pub.send(pc.localDescription.sdp)
        await ready.wait()

    async def handle(self, message: dict[str, Any]) -> None:
        """A viewer's subscribe (a new encoder) or its answer."""
        who = message["participant"]
        if message["type"] == "media.subscribe":
            assert self.layered is not None
            pc = self.pcs[who] = RTCPeerConnection(_config())
            pc.addTrack(self._counted(self.relay.subscribe(self.layered, False), who))
            _h264_only(pc)
            await pc.setLocalDescription(await pc.createOffer())
            offer = {"type": "media.offer", "pc": "sub", "sdp": pc.localDescription.sdp}
            await self.transport.send(message["reply_to"], offer)
        elif message["type"] == "media.answer":
            await self.pcs[who].setRemoteDescription(
                RTCSessionDescription(message["sdp"], "answer")
            )

    def _counted(self, track: MediaStreamTrack, name: str) -> MediaStreamTrack:
        original = track.recv
        self.sent[name] = 0

        async def recv() -> Any:
            frame = await original()
            self.sent[name] += 1
            return frame

        track.recv = recv  # type: ignore[method-assign]
        return track

    async def close(self) -> None:
        """Close every peer connection."""
        for pc in self.pcs.values():
            await pc.close()
