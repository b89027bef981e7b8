"""Real aiortc peers for media-core tests: one event loop, no STUN, short waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender

from media_core.canvas import YuvCanvas
from media_core.sources import TestPatternSource
from media_core.stamps import read_stamp, wall_clock_ms
from media_core.tracks import SyntheticVideoTrack
from media_core.worker import MediaWorker, QueueTransport

ROOM = "8c1c6a52-0b8e-4a0e-9a55-3b0f3c1a0001"
GROUP = f"room.{ROOM}"


def no_stun() -> RTCConfiguration:
    """No ICE servers: host candidates only, gathered in milliseconds."""
    return RTCConfiguration(iceServers=[])


def prefer(pc: RTCPeerConnection, mime: str) -> None:
    """Make every video transceiver of ``pc`` offer only ``mime`` (e.g. video/H264)."""
    caps = RTCRtpSender.getCapabilities("video").codecs
    chosen = [c for c in caps if c.mimeType in (mime, "video/rtx")]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            transceiver.setCodecPreferences(chosen)


@dataclass
class Receiver:
    """Decoded frames of one remote track with their stamps and arrival times."""

    frames: list[tuple[int, int | None, int]] = field(default_factory=list)
    first_frame_at: float | None = None
    task: asyncio.Task[None] | None = None
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def consume(self, track: MediaStreamTrack) -> None:
        """Read ``track`` until it ends: (pts, stamp ms, arrival ms) per frame."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if self.first_frame_at is None:
                    self.first_frame_at = loop.time()
                stamp = None
                if isinstance(frame, av.VideoFrame):
                    stamp = read_stamp(YuvCanvas.from_frame(frame))
                self.frames.append((frame.pts or 0, stamp, wall_clock_ms()))
                self.got.set()

    async def wait_frames(self, n: int, within: float = 8.0) -> None:
        """Wait until ``n`` frames arrived."""
        async with asyncio.timeout(within):
            while len(self.frames) < n:
                self.got.clear()
                await self.got.wait()


class Client:
    """A browser stand-in talking to a worker through a ``QueueTransport``."""

    def __init__(
        self,
        transport: QueueTransport,
        participant: str,
        channel: str = "",
        opened: int | None = None,
    ) -> None:
        self.transport = transport
        self.participant = participant
        self.opened = opened  # when its socket opened, as the web tier sends it
        # One channel per socket: a reconnecting browser comes back on a new one.
        self.channel = channel or f"chan.{participant}"
        self.pub: RTCPeerConnection | None = None
        self.sub: RTCPeerConnection | None = None
        self.receivers: list[Receiver] = []

    def send(self, type_: str, **fields: object) -> None:
        """Queue one protocol message for the worker."""
        message = {"type": type_, "room": ROOM, "participant": self.participant}
        message["reply_to"] = self.channel
        if self.opened is not None:
            message["opened"] = self.opened
        message.update(fields)
        self.transport.put(message)

    async def expect(self, type_: str, within: float = 5.0) -> dict[str, object]:
        """The next message of ``type_`` for this client."""
        return await self.transport.expect(self.channel, type_, within)

    async def publish(
        self, track: MediaStreamTrack, mime: str | None = None
    ) -> RTCPeerConnection:
        """Publish ``track``; return the connected publish PC."""
        self.pub = RTCPeerConnection(no_stun())
        self.pub.addTrack(track)
        if mime:
            prefer(self.pub, mime)
        await self.pub.setLocalDescription(await self.pub.createOffer())
        self.send("media.offer", pc="pub", sdp=self.pub.localDescription.sdp)
        answer = await self.expect("media.answer")
        await self.pub.setRemoteDescription(
            RTCSessionDescription(str(answer["sdp"]), "answer")
        )
        return self.pub

    async def subscribe(self, tracks: list[str]) -> dict[str, object]:
        """Subscribe and answer the worker's offer; return that offer."""
        if self.sub is None:
            self.sub = RTCPeerConnection(no_stun())

            @self.sub.on("track")
            def _on_track(track: MediaStreamTrack) -> None:
                receiver = Receiver()
                receiver.task = asyncio.ensure_future(receiver.consume(track))
                self.receivers.append(receiver)

        self.send("media.subscribe", tracks=tracks)
        offer = await self.expect("media.offer")
        await self.sub.setRemoteDescription(
            RTCSessionDescription(str(offer["sdp"]), "offer")
        )
        await self.sub.setLocalDescription(await self.sub.createAnswer())
        self.send("media.answer", pc="sub", sdp=self.sub.localDescription.sdp)
        return offer

    async def close(self) -> None:
        """Close both PCs and stop the frame readers."""
        for pc in (self.pub, self.sub):
            if pc is not None:
                await pc.close()
        for receiver in self.receivers:
            if receiver.task is not None:
                receiver.task.cancel()


def stamped_track(
    width: int = 640, height: int = 360, fps: float = 30
) -> SyntheticVideoTrack:
    """A moving test pattern with a latency stamp on every frame."""
    return SyntheticVideoTrack(TestPatternSource(width, height, fps), stamp=True)


@contextlib.asynccontextmanager
async def running_worker(
    **kwargs: object,
) -> AsyncIterator[tuple[MediaWorker, QueueTransport]]:
    """A worker running on this loop with a ``QueueTransport``; closed after."""
    transport = QueueTransport()
    worker = MediaWorker("w-test", transport, rtc_configuration=no_stun(), **kwargs)  # type: ignore[arg-type]
    task = asyncio.ensure_future(worker.run())
    try:
        yield worker, transport
    finally:
        await worker.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
