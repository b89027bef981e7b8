"""The fast RTP send path sends what aiortc sends, answers NACKs, and falls back.

Real aiortc peers over UDP on this host: the receiver records every RTP packet
its transport hands over (before the jitter buffer), so the assertions are
about the wire format, and they hold for stock aiortc too (parametrised).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from types import SimpleNamespace

import av
import pylibsrtp
import pytest
from aioice.ice import StunProtocol
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.codecs import h264
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import State
from aiortc.rtp import RtpPacket

from media_core import rtp_send
from media_core.aiortc_fixes import MediaFixes
from media_core.sources import TestPatternSource
from media_core.tap import negotiated_codec
from media_core.tracks import SyntheticVideoTrack
from tests.media_core.rtc_helpers import no_stun, prefer

pytestmark = pytest.mark.timeout(60)


@dataclass
class Wire:
    """What one call put on the wire, per kind (``video``, ``audio``)."""

    #: RTP packets as the receiving transport handed them over.
    packets: dict[str, list[RtpPacket]] = field(default_factory=dict)
    #: The sender's own count (``outbound-rtp`` ``packetsSent``).
    sent: dict[str, int] = field(default_factory=dict)
    mids: dict[str, str] = field(default_factory=dict)
    media_types: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    #: The video packet the receiver dropped once, if asked to.
    dropped: RtpPacket | None = None


async def _count_frames(track: MediaStreamTrack, wire: Wire) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()
            if track.kind == "video":
                wire.frames += 1


async def _call(fixes: MediaFixes, seconds: float, drop_one: bool = False) -> Wire:
    """A video (H.264) and an audio track for ``seconds``, then both stopped.

    With ``drop_one`` the receiver drops the first video packet after half a
    second, once (its retransmission gets through).
    """
    wire = Wire()
    fixes.apply()
    sender_pc, receiver_pc = RTCPeerConnection(no_stun()), RTCPeerConnection(no_stun())
    video = SyntheticVideoTrack(TestPatternSource(640, 360, 30))
    audio = AudioStreamTrack()
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    try:
        sender_pc.addTrack(video)
        sender_pc.addTrack(audio)
        prefer(sender_pc, "video/H264")
        receiver_pc.on(
            "track",
            lambda t: tasks.append(asyncio.ensure_future(_count_frames(t, wire))),
        )
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        start = loop.time()
        for transceiver in receiver_pc.getTransceivers():
            kind = transceiver.kind
            wire.mids[kind] = transceiver.mid
            wire.media_types[kind] = negotiated_codec(transceiver).payloadType
            wire.packets[kind] = []
            transceiver.receiver._handle_rtp_packet = _recorder(  # type: ignore[method-assign]
                transceiver.receiver._handle_rtp_packet,
                wire,
                kind,
                lambda: drop_one and loop.time() - start > 0.5,
            )
        await asyncio.sleep(seconds)
        video.stop()
        audio.stop()
        await asyncio.sleep(0.3)  # let the last packets land
        for kind, sender in zip(
            ("video", "audio"), sender_pc.getSenders(), strict=True
        ):
            report = await sender.getStats()
            (outbound,) = [s for s in report.values() if s.type == "outbound-rtp"]
            wire.sent[kind] = outbound.packetsSent
        return wire
    finally:
        for task in tasks:
            task.cancel()
        await sender_pc.close()
        await receiver_pc.close()
        fixes.revert()


Handler = Callable[[RtpPacket, int], Awaitable[None]]


def _recorder(
    original: Handler, wire: Wire, kind: str, drop_now: Callable[[], bool]
) -> Handler:
    """The receiver's RTP handler, recording each packet (or dropping one)."""

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        media = packet.payload_type == wire.media_types[kind]
        if kind == "video" and media and wire.dropped is None and drop_now():
            wire.dropped = packet
            return
        wire.packets[kind].append(packet)
        await original(packet, arrival_time_ms)

    return handle


def _media(wire: Wire, kind: str) -> list[RtpPacket]:
    return [p for p in wire.packets[kind] if p.payload_type == wire.media_types[kind]]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "stock-sender"])
async def test_packets_on_the_wire_are_aiortcs(fast: bool) -> None:
    fixes = MediaFixes(fast_rtp_send=fast)
    wire = await _call(fixes, 1.5)
    assert wire.frames > 20, "video never decoded"
    for kind in ("video", "audio"):
        packets = _media(wire, kind)
        assert len(packets) > 20
        # Nothing lost or reordered on this host, and the sender counted each.
        seqs = [p.sequence_number for p in packets]
        assert seqs == [(seqs[0] + i) % 65536 for i in range(len(seqs))]
        assert wire.sent[kind] == len(packets)
        for p in packets:
            assert p.extensions.mid == wire.mids[kind]
            # aiortc negotiates abs-send-time for video only.
            assert (p.extensions.abs_send_time is not None) == (kind == "video")
            assert p.padding_size == 0
        if kind == "audio":
            assert all(p.extensions.audio_level == (False, 127) for p in packets)
            continue
        # Video: one RTP timestamp per frame, the marker on its last packet only.
        for p, after in zip(packets, packets[1:], strict=False):
            assert bool(p.marker) == (after.timestamp != p.timestamp)
        assert packets[-1].marker
        assert len({p.timestamp for p in packets}) > 20


async def test_a_lost_packet_is_retransmitted_with_its_original_bytes() -> None:
    fixes = MediaFixes()
    wire = await _call(fixes, 1.5, drop_one=True)
    lost = wire.dropped
    assert lost is not None
    rtx = [
        p
        for p in wire.packets["video"]
        if p.payload_type != wire.media_types["video"]
        and p.payload[:2] == lost.sequence_number.to_bytes(2, "big")
    ]
    assert rtx, "the lost packet was never retransmitted"
    assert rtx[0].payload[2:] == lost.payload
    assert rtx[0].timestamp == lost.timestamp
    assert rtx[0].marker == lost.marker
    assert rtx[0].extensions.mid == wire.mids["video"]
    assert wire.frames > 20


def test_apply_and_revert_swap_the_send_path() -> None:
    stock = RTCRtpSender._run_rtp, RTCRtpSender._retransmit, h264.H264Encoder.pack
    fixes = MediaFixes()
    fixes.apply()
    try:
        assert RTCRtpSender._run_rtp is rtp_send._run_rtp
        assert RTCRtpSender._retransmit is rtp_send._retransmit
        assert h264.H264Encoder.pack is rtp_send.shared_h264_pack
    finally:
        fixes.revert()
    assert (
        RTCRtpSender._run_rtp,
        RTCRtpSender._retransmit,
        h264.H264Encoder.pack,
    ) == stock


def _h264_packets(count: int) -> list[av.Packet]:
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base = Fraction(1, 90000)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    source = TestPatternSource(320, 240, 30)
    packets: list[av.Packet] = []
    for i in range(count):
        frame = source.frame(i)
        frame.pts = i * 3000
        frame.time_base = Fraction(1, 90000)
        packets += encoder.encode(frame)
    return packets


def test_h264_packetisation_is_shared_between_senders() -> None:
    packets = _h264_packets(20)
    first, second = h264.H264Encoder(), h264.H264Encoder()
    for packet in packets:
        shared = rtp_send.shared_h264_pack(first, packet)
        assert rtp_send.shared_h264_pack(second, packet) is shared
        assert shared == rtp_send._ORIGINAL_H264_PACK(first, packet)
    assert len(rtp_send._packed) <= rtp_send._PACK_CACHE
    # An evicted packet is packed afresh, to the same payloads.
    again = rtp_send.shared_h264_pack(first, packets[0])
    assert again == rtp_send._ORIGINAL_H264_PACK(first, packets[0])


def _dtls(state: State, protocol: object, closing: bool = False) -> SimpleNamespace:
    transport = SimpleNamespace(is_closing=lambda: closing)
    protocol.transport = transport  # type: ignore[attr-defined]
    pair = SimpleNamespace(protocol=protocol, remote_addr=("192.0.2.7", 50000))
    connection = SimpleNamespace(_nominated={1: pair})
    return SimpleNamespace(
        _state=state, transport=SimpleNamespace(_connection=connection)
    )


async def test_direct_send_only_on_a_plain_udp_pair() -> None:
    direct = _dtls(State.CONNECTED, StunProtocol(None))  # type: ignore[arg-type]
    sink, address = rtp_send._datagram_sink(direct)  # type: ignore[arg-type]
    assert address == ("192.0.2.7", 50000) and sink is not None
    # A TURN-relayed pair wraps data in its own framing: aiortc's path.
    relayed = _dtls(State.CONNECTED, SimpleNamespace())
    assert rtp_send._datagram_sink(relayed) == (None, None)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        rtp_send._datagram_sink(_dtls(State.CLOSED, StunProtocol(None)))  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        rtp_send._datagram_sink(
            _dtls(State.CONNECTED, StunProtocol(None), closing=True)
        )  # type: ignore[arg-type]
    unpaired = _dtls(State.CONNECTED, StunProtocol(None))
    unpaired.transport._connection._nominated.clear()
    with pytest.raises(ConnectionError):
        rtp_send._datagram_sink(unpaired)  # type: ignore[arg-type]


def _srtp_session(direction: int) -> pylibsrtp.Session:
    key = bytes(range(30))  # 16-byte key and 14-byte salt, synthetic
    return pylibsrtp.Session(policy=pylibsrtp.Policy(key=key, ssrc_type=direction))


def test_protector_writes_what_pylibsrtp_protect_writes() -> None:
    ours = rtp_send._Protector(_srtp_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    theirs = _srtp_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    receiver = _srtp_session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
    for seq in range(200):
        packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=seq * 3000)
        packet.ssrc = 1234
        packet.payload = bytes([seq % 256]) * (1 + seq * 6)
        data = packet.serialize()
        protected = ours(data)
        assert protected == theirs.protect(data)
        assert receiver.unprotect(protected) == data
    with pytest.raises(ValueError):
        ours(bytes(1500))
