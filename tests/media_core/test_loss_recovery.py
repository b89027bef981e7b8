"""A packet lost for good between two real aiortc peers (VP8 over UDP).

The receiver drops one RTP packet and every retransmission of it, as when a
packet and its RTX are both lost. With ``MediaFixes``' jitter skip the video
recovers within a fraction of a second and the sender is asked for a
keyframe; without it the 4096-packet jitter buffer holds every later frame
back for far longer than the test watches.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from media_core.aiortc_fixes import MediaFixes, jitter_skips
from media_core.sources import TestPatternSource
from media_core.tap import negotiated_codec
from media_core.tracks import SyntheticVideoTrack
from tests.media_core.rtc_helpers import no_stun

pytestmark = pytest.mark.timeout(60)

WARM_UP_S = 1.5
WATCH_S = 2.5


@dataclass
class LossRun:
    """Frame arrival times and what the loss caused."""

    arrivals: list[float] = field(default_factory=list)
    dropped_seq: int | None = None
    dropped_at: float | None = None
    drops: int = 0
    keyframe_requests: int = 0
    skips: int = 0

    def longest_freeze(self) -> float:
        """The longest wait for a decoded frame from the drop to the end (s)."""
        assert self.dropped_at is not None
        before = [t for t in self.arrivals if t < self.dropped_at]
        after = [t for t in self.arrivals if t >= self.dropped_at]
        times = [*before[-1:], *after, self.dropped_at + WATCH_S]
        return max(b - a for a, b in zip(times, times[1:], strict=False))


async def _consume(track: MediaStreamTrack, run: LossRun) -> None:
    loop = asyncio.get_running_loop()
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()
            run.arrivals.append(loop.time())


async def _run_with_a_lost_packet(fixes: MediaFixes) -> LossRun:
    run = LossRun()
    loop = asyncio.get_running_loop()
    fixes.apply()
    sender_pc, receiver_pc = RTCPeerConnection(no_stun()), RTCPeerConnection(no_stun())
    track = SyntheticVideoTrack(TestPatternSource(640, 360, 30))
    tasks: list[asyncio.Task[None]] = []
    try:
        sender_pc.addTrack(track)
        receiver_pc.on(
            "track", lambda t: tasks.append(asyncio.ensure_future(_consume(t, run)))
        )
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        (transceiver,) = receiver_pc.getTransceivers()
        receiver, media_pt = transceiver.receiver, None
        armed = False
        original = receiver._handle_rtp_packet

        async def lossy(packet: RtpPacket, arrival_time_ms: int) -> None:
            nonlocal media_pt
            if media_pt is None:
                media_pt = negotiated_codec(transceiver).payloadType
            if packet.payload_type == media_pt:
                if armed and run.dropped_seq is None:
                    run.dropped_seq = packet.sequence_number
                    run.dropped_at = loop.time()
                if packet.sequence_number == run.dropped_seq:
                    run.drops += 1
                    return
            elif (
                run.dropped_seq is not None
                and int.from_bytes(packet.payload[:2], "big") == run.dropped_seq
            ):
                run.drops += 1  # its retransmission (RTX carries the original seq)
                return
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = lossy  # type: ignore[method-assign]
        sender = sender_pc.getSenders()[0]
        asked = sender._send_keyframe

        def counting() -> None:
            if run.dropped_at is not None:
                run.keyframe_requests += 1
            asked()

        sender._send_keyframe = counting  # type: ignore[method-assign]
        await asyncio.sleep(WARM_UP_S)
        assert len(run.arrivals) > 20, "video never started"
        armed = True
        await asyncio.sleep(WATCH_S)
        run.skips = jitter_skips(receiver._RTCRtpReceiver__jitter_buffer)  # type: ignore[attr-defined]
    finally:
        for task in tasks:
            task.cancel()
        track.stop()
        await sender_pc.close()
        await receiver_pc.close()
        fixes.revert()
    return run


async def test_video_recovers_from_a_packet_lost_for_good() -> None:
    """With the jitter skip the freeze lasts well under half a second, and the
    sender is asked for a keyframe."""
    run = await _run_with_a_lost_packet(MediaFixes())
    assert run.drops >= 1
    assert run.skips == 1
    assert run.longest_freeze() < 0.5
    assert run.keyframe_requests >= 1


async def test_without_the_skip_a_lost_packet_freezes_video() -> None:
    """Without it (aiortc's rule, with the 4096-packet buffer) no frame
    arrives for the whole watch after the loss."""
    run = await _run_with_a_lost_packet(MediaFixes(jitter_skip_frames=None))
    assert run.drops >= 1
    assert run.longest_freeze() > WATCH_S - 0.3
