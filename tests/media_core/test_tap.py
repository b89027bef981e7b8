"""The receiver tap, against real aiortc peers; fails loudly if aiortc changes."""

from __future__ import annotations

import asyncio
import queue
from fractions import Fraction

import av
import pytest
from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media_core.errors import MediaError
from media_core.tap import (
    TapQueue,
    assert_aiortc_internals,
    install_tap,
    is_keyframe,
)
from tests.media_core.rtc_helpers import no_stun, prefer, stamped_track

pytestmark = pytest.mark.timeout(60)


def test_aiortc_internals_are_as_the_tap_expects() -> None:
    """Every private attribute and signature the tap and fixes use still exists."""
    assert_aiortc_internals()


def test_keyframe_detection() -> None:
    """VP8 P bit and H.264 IDR/SPS NAL types mark keyframes; Opus always is one."""
    assert is_keyframe(b"\x10\x02", "vp8")
    assert not is_keyframe(b"\x11\x02", "vp8")
    assert is_keyframe(b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x65", "h264")
    assert not is_keyframe(b"\x00\x00\x00\x01\x41\x9a", "h264")
    assert is_keyframe(b"\xfc", "opus")


def test_tap_queue_diverts_frames_and_passes_none() -> None:
    """Frames become av.Packets for the callback; None reaches the thread's get."""
    got: list[tuple[av.Packet, str]] = []
    tap = TapQueue(lambda packet, codec: got.append((packet, codec)))
    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    tap.put((codec, JitterFrame(b"\x10abc", 1234)))
    packet, name = got[0]
    assert name == "vp8" and bytes(packet) == b"\x10abc"
    assert packet.pts == 1234 and packet.time_base == Fraction(1, 90000)
    assert packet.is_keyframe
    tap.put(None)
    assert tap.get_nowait() is None
    with pytest.raises(queue.Empty):
        tap.get_nowait()


@pytest.mark.parametrize("mime", ["video/VP8", "video/H264"])
async def test_tap_on_a_real_receiver_yields_packets(mime: str) -> None:
    """Tapped in pc.on('track'), a receiver hands over keyframe-first packets."""
    sender, receiver = RTCPeerConnection(no_stun()), RTCPeerConnection(no_stun())
    sender.addTrack(stamped_track(320, 240))
    prefer(sender, mime)
    packets: list[tuple[av.Packet, str]] = []
    enough = asyncio.Event()
    taps = []

    @receiver.on("track")
    def _on_track(track: MediaStreamTrack) -> None:
        transceiver = receiver.getTransceivers()[0]

        def on_packet(packet: av.Packet, codec: str) -> None:
            packets.append((packet, codec))
            if len(packets) >= 15:
                enough.set()

        taps.append(install_tap(transceiver.receiver, on_packet))

    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    async with asyncio.timeout(10):
        await enough.wait()
    assert packets[0][0].is_keyframe
    assert {codec for _, codec in packets} == {mime.split("/")[1].lower()}
    pts = [p.pts for p, _ in packets]
    assert pts == sorted(pts) and pts[-1] > pts[0]
    assert taps[0].request_keyframe()
    with pytest.raises(MediaError):
        install_tap(receiver.getTransceivers()[0].receiver, lambda p, c: None)
    await sender.close()
    await receiver.close()
