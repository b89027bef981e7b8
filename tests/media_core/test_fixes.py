"""Each aiortc fix observably changes behaviour, and revert restores aiortc."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs import h264, vpx
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import RtpPacket

from media_core.aiortc_fixes import MB, MediaFixes, jitter_skips, rcvbuf_sizes
from tests.media_core.rtc_helpers import no_stun


@pytest.fixture
def fixes() -> Iterator[MediaFixes]:
    """The default profile, applied for one test."""
    applied = MediaFixes()
    applied.apply()
    yield applied
    applied.revert()


def _rtp(seq: int, timestamp: int, marker: bool) -> RtpPacket:
    packet = RtpPacket(sequence_number=seq, timestamp=timestamp, marker=int(marker))
    packet._data = bytes([seq])  # type: ignore[attr-defined]
    return packet


def _feed_one_frame(buffer: JitterBuffer) -> list[object]:
    out = [buffer.add(_rtp(seq, 3000, seq == 12))[1] for seq in (10, 11, 12)]
    return out


def test_stock_jitter_buffer_waits_for_next_frame() -> None:
    """Without the fix a frame with its marker is still held back."""
    assert _feed_one_frame(JitterBuffer(128, is_video=True)) == [None, None, None]


def test_marker_bit_completes_the_frame(fixes: MediaFixes) -> None:
    """With the fix the marker packet completes the frame at once."""
    out = _feed_one_frame(JitterBuffer(128, is_video=True))
    assert out[:2] == [None, None]
    assert out[2] is not None and out[2].data == bytes([10, 11, 12])  # type: ignore[attr-defined]


def test_marker_bit_waits_for_a_missing_packet(fixes: MediaFixes) -> None:
    """A gap before the marker keeps the frame until the packet arrives."""
    buffer = JitterBuffer(128, is_video=True)
    assert buffer.add(_rtp(10, 3000, False))[1] is None
    assert buffer.add(_rtp(12, 3000, True))[1] is None
    frame = buffer.add(_rtp(11, 3000, False))[1]
    assert frame is not None and frame.data == bytes([10, 11, 12])


async def test_video_jitter_buffer_capacity() -> None:
    """Video receivers get a 4096-packet jitter buffer; revert gives 512 again."""

    def capacity() -> int:
        pc = RTCPeerConnection(no_stun())
        receiver = pc.addTransceiver("video").receiver
        return receiver._RTCRtpReceiver__jitter_buffer.capacity  # type: ignore[attr-defined]

    fixes = MediaFixes()
    fixes.apply()
    try:
        assert capacity() == 4096
    finally:
        fixes.revert()
    assert capacity() == 512


async def test_udp_receive_buffer(fixes: MediaFixes) -> None:
    """ICE sockets read back SO_RCVBUF of at least 4 MB (Linux doubles it)."""
    pc = RTCPeerConnection(no_stun())
    pc.addTransceiver("video")
    await pc.setLocalDescription(await pc.createOffer())
    gatherer = pc.getTransceivers()[0].receiver.transport.transport.iceGatherer
    sizes = rcvbuf_sizes(gatherer)
    assert sizes and min(sizes) >= 4 * MB
    await pc.close()


def _encode_1080p() -> tuple[h264.H264Encoder, int, bytes]:
    """Encode one 1080p frame: the encoder, the SPS level_idc, x264's option SEI."""
    encoder = h264.H264Encoder()
    frame = av.VideoFrame.from_ndarray(
        np.zeros((1080 * 3 // 2, 1920), np.uint8), format="yuv420p"
    )
    frame.pts, frame.time_base = 0, Fraction(1, 90000)
    nals = list(encoder._encode_frame(frame, False))
    sps = next(n for n in nals if n[0] & 0x1F == 7)
    sei = next(n for n in nals if n[0] & 0x1F == 6)
    return encoder, sps[3], sei


def test_x264_options_in_codec_context(fixes: MediaFixes) -> None:
    """1080p: veryfast (subme=2), zerolatency, level 4.2, 1 s GOP, 6 Mbps."""
    encoder, level, sei = _encode_1080p()
    assert level == 42
    assert b" subme=2 " in sei and b" keyint=30 " in sei
    assert b"rc_lookahead=0" in sei and b" bframes=0 " in sei
    assert encoder.codec.gop_size == 30
    assert encoder.codec.bit_rate == 6_000_000


def test_stock_x264_options() -> None:
    """Stock aiortc: level 3.1 at 1080p, preset medium (subme=7), keyint 250."""
    _, level, sei = _encode_1080p()
    assert level == 31
    assert b" subme=7 " in sei and b" keyint=250 " in sei


def test_bitrate_pinned_and_restored() -> None:
    """MIN = MAX = DEFAULT while applied; aiortc's 0.5/1/3 Mbps after revert."""
    fixes = MediaFixes(pin_bitrate=16_000_000)
    fixes.apply()
    try:
        assert h264.MIN_BITRATE == h264.MAX_BITRATE == h264.DEFAULT_BITRATE == 16e6
    finally:
        fixes.revert()
    assert (h264.MIN_BITRATE, h264.DEFAULT_BITRATE, h264.MAX_BITRATE) == (
        500_000,
        1_000_000,
        3_000_000,
    )


def test_nack_is_retried(fixes: MediaFixes, monkeypatch: pytest.MonkeyPatch) -> None:
    """A packet still missing is NACKed again after the retry interval, then dropped."""
    now = [0.0]
    monkeypatch.setattr("media_core.aiortc_fixes.time.monotonic", lambda: now[0])
    nack = NackGenerator()
    nack.add(_rtp(1, 0, False))
    assert nack.add(_rtp(3, 0, False)) is True
    now[0] = 0.01
    assert nack.add(_rtp(4, 0, False)) is False
    results = []
    for step in range(1, 6):
        now[0] = 0.05 * step
        results.append(nack.add(_rtp(4 + step, 0, False)))
    assert results == [True, True, True, False, False]
    assert 2 not in nack.missing


def test_stock_nack_is_sent_once() -> None:
    """aiortc alone reports a gap only when it is first seen."""
    nack = NackGenerator()
    nack.add(_rtp(1, 0, False))
    assert nack.add(_rtp(3, 0, False)) is True
    assert nack.add(_rtp(4, 0, False)) is False


async def test_receiver_pli_rate_limited(fixes: MediaFixes) -> None:
    """Two PLIs 0 s apart: only the first leaves the receiver."""
    pc = RTCPeerConnection(no_stun())
    receiver = pc.addTransceiver("video").receiver
    sent: list[bytes] = []

    async def capture(packet: object) -> None:
        sent.append(bytes(packet))  # type: ignore[call-overload]

    receiver._send_rtcp = capture  # type: ignore[method-assign]
    await receiver._send_rtcp_pli(1234)
    await receiver._send_rtcp_pli(1234)
    assert len(sent) == 1
    await pc.close()


def test_apply_twice_is_refused(fixes: MediaFixes) -> None:
    """Fixes are process-wide: a second profile cannot stack on the first."""
    from media_core.errors import MediaError

    with pytest.raises(MediaError):
        MediaFixes().apply()


def _vp8_keyframes(count: int) -> list[int]:
    """Encode ``count`` 30 fps frames with aiortc's VP8 encoder; keyframe indexes."""
    encoder = vpx.Vp8Encoder()
    keyframes = []
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(
            np.full((120 * 3 // 2, 160), i % 256, np.uint8), format="yuv420p"
        )
        frame.pts, frame.time_base = i * 3000, Fraction(1, 90000)
        payloads, _ = encoder.encode(frame)
        _, data = vpx.VpxPayloadDescriptor.parse(payloads[0])
        if data[0] & 1 == 0:  # the VP8 P bit clear: a keyframe (RFC 7741)
            keyframes.append(i)
    return keyframes


def test_vp8_keyframe_every_second(fixes: MediaFixes) -> None:
    """With the fix VP8 sends a keyframe every 30 frames (1 s at 30 fps)."""
    assert _vp8_keyframes(75) == [0, 30, 60]


def test_stock_vp8_keyframe_only_at_start() -> None:
    """aiortc alone (GOP 3000) sends its only keyframe first; revert restores it."""
    fixes = MediaFixes()
    fixes.apply()
    fixes.revert()
    assert _vp8_keyframes(75) == [0]


def _frames(first_ts: int, count: int, lost: set[int]) -> list[RtpPacket]:
    """Three packets a frame, frames 3000 ticks apart, minus ``lost`` sequences."""
    packets = []
    for frame in range(count):
        for k in range(3):
            seq = 100 + 3 * frame + k
            if seq not in lost:
                packets.append(_rtp(seq, first_ts + 3000 * frame, k == 2))
    return packets


def _play(buffer: JitterBuffer, packets: list[RtpPacket]) -> tuple[list[int], int]:
    """Frames (index by timestamp) the buffer emits, and how many PLIs it asks for."""
    emitted, plis = [], 0
    for packet in packets:
        pli, frame = buffer.add(packet)
        plis += pli
        if frame is not None:
            emitted.append((frame.timestamp - 90_000) // 3000)
    return emitted, plis


def test_stock_jitter_buffer_stalls_on_a_lost_packet() -> None:
    """Without the skip a packet lost for good holds every later frame back."""
    fixes = MediaFixes(jitter_skip_frames=None)
    fixes.apply()
    try:
        packets = _frames(90_000, 12, lost={104})
        emitted, plis = _play(JitterBuffer(512, is_video=True), packets)
    finally:
        fixes.revert()
    assert emitted == [0] and plis == 0


def test_jitter_buffer_skips_a_lost_packet_and_asks_for_a_keyframe(
    fixes: MediaFixes,
) -> None:
    """Frame 1 misses a packet for good: once frame 5 (4 intervals, over the
    0.1 s floor) arrives, frame 1 is skipped, a keyframe is asked for and every
    later frame comes out in order; the late retransmission changes nothing."""
    buffer = JitterBuffer(512, is_video=True)
    packets = _frames(90_000, 12, lost={104})
    emitted, plis = _play(buffer, packets[:17])
    # Frame 5 starts at packet 14 (4 frames x 3 packets, one lost, + 3).
    assert emitted == [0, 2, 3, 4] and plis == 1
    assert jitter_skips(buffer) == 1
    assert buffer.add(_rtp(104, 93_000, False)) == (False, None)
    more, plis = _play(buffer, packets[17:])
    assert emitted + more == [0, *range(2, 12)] and plis == 0


def test_jitter_buffer_skips_a_frame_whose_first_packet_is_lost(
    fixes: MediaFixes,
) -> None:
    """A lost first packet leaves no sure frame start until the next frame."""
    packets = _frames(90_000, 10, lost={103})
    emitted, plis = _play(JitterBuffer(512, is_video=True), packets)
    assert emitted == [0, *range(2, 10)] and plis == 1


def test_jitter_buffer_waits_for_a_retransmission_in_time(fixes: MediaFixes) -> None:
    """A packet that arrives within the wait is used; nothing is skipped."""
    buffer = JitterBuffer(512, is_video=True)
    packets = _frames(90_000, 6, lost={104})
    emitted, plis = _play(buffer, packets[:8])
    assert emitted == [0]
    late, _ = _play(buffer, [_rtp(104, 93_000, False), *packets[8:]])
    assert emitted + late == list(range(6)) and plis == 0
    assert jitter_skips(buffer) == 0
