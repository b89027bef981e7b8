"""The compositor: off-loop work, bounded queues, drops, keyframes, errors."""

from __future__ import annotations

import asyncio
import os
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from media_core.canvas import YuvCanvas
from media_core.compositor import (
    Compositor,
    EncoderSettings,
    open_decoder,
    open_encoder,
)
from media_core.errors import BadFrame
from media_core.sources import EndoscopySource, TestPatternSource
from media_core.stamps import StampLayer, read_stamp

EPOCH_MS = 1_764_300_000_000


def _stamp_layer() -> StampLayer:
    return StampLayer(from_timestamp=lambda ts: EPOCH_MS + round(ts * 1000))


class AlphaBoxes:
    """A vitals-like layer: a few translucent panels blended into luma."""

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        h, w = canvas.height, canvas.width
        for i in range(4):
            y0, x0 = h - (i + 1) * h // 10, w - w // 4
            panel = canvas.y[y0 : y0 + h // 12, x0 : x0 + w // 5]
            panel[:] = (panel.astype(np.uint16) * 3 + 235) // 4


class Broken:
    """A layer that always fails."""

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        raise RuntimeError("boom")


def _decode_stamps(packets: list[av.Packet], codec: str = "h264") -> list[int | None]:
    decoder = open_decoder(codec)
    frames: list[av.VideoFrame] = []
    for packet in packets:
        frames += decoder.decode(packet)
    return [read_stamp(YuvCanvas.from_frame(f)) for f in frames]


async def _tick_lags(seconds: float) -> list[float]:
    """Overshoots (s) of a 5 ms asyncio sleep, sampled for ``seconds``."""
    lags = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append(time.perf_counter() - before - 0.005)
    return lags


async def _drain(compositor: Compositor) -> list[av.Packet]:
    return [packet async for packet in compositor]


@pytest.mark.asyncio
async def test_event_loop_stays_responsive_at_1080p() -> None:
    """While 1080p frames are composited the loop never lags more than 50 ms."""
    source = EndoscopySource(1920, 1080, 30)
    frames = [source.frame(i) for i in range(45)]
    # What a loaded machine alone does to the ticker, so only the
    # compositor's own effect is held to the 50 ms bound.
    noise = max(await _tick_lags(0.5))
    compositor = Compositor([AlphaBoxes(), _stamp_layer()])
    compositor.start()
    consumer = asyncio.create_task(_drain(compositor))
    lags: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    tick = asyncio.create_task(ticker())
    for frame in frames:
        compositor.submit_frame(frame)
        await asyncio.sleep(1 / 30)
    await compositor.stop()
    running = False
    await tick
    packets = await consumer
    stats = compositor.stats
    # On a busy machine some frames may be dropped; the loop must stay live.
    assert stats["frames_encoded"] >= 10
    assert stats["frames_encoded"] + stats["frames_dropped"] == len(frames)
    # Work done on (or holding) the loop would show on every frame; a single
    # overshoot is an OS scheduling hiccup on a shared 2-core machine.
    over = [lag for lag in lags if lag > 0.050 + noise]
    assert len(over) <= 1 and max(lags) < 0.250, f"loop lags over 50 ms: {over}"
    assert len(packets) == compositor.stats["frames_encoded"]


@pytest.mark.asyncio
async def test_slow_consumer_drops_and_recovers_on_keyframe() -> None:
    """A stalled reader bounds the output queue, counts drops, forces an IDR."""
    source = TestPatternSource(640, 360, 30)
    compositor = Compositor([_stamp_layer()], output_size=5, input_size=64)
    compositor.start()
    peak = 0
    for i in range(40):
        compositor.submit_frame(source.frame(i))
        await asyncio.sleep(0.01)
        peak = max(peak, compositor.output_pending)
    await compositor.stop()
    packets = await _drain(compositor)
    stats = compositor.stats
    assert peak <= 5
    assert stats["packets_dropped_out"] > 0 and stats["keyframes_forced"] >= 1
    assert packets[0].is_keyframe
    stamps = _decode_stamps(packets)
    assert None not in stamps and stamps == sorted(stamps)


@pytest.mark.asyncio
async def test_input_overflow_drops_oldest_frames() -> None:
    """Frames arriving faster than the worker are dropped, never queued unbounded."""
    source = EndoscopySource(1920, 1080, 30)
    frames = [source.frame(i) for i in range(30)]
    compositor = Compositor([AlphaBoxes()], input_size=2)
    compositor.start()
    peak = 0
    for frame in frames:
        compositor.submit_frame(frame)
        peak = max(peak, compositor.pending)
    await compositor.stop()
    await _drain(compositor)
    stats = compositor.stats
    assert peak <= 2
    assert stats["frames_dropped"] > 0
    assert stats["frames_dropped"] + stats["frames_encoded"] == 30


@pytest.mark.asyncio
async def test_wrong_pixel_format_is_converted_once() -> None:
    """An rgb24 frame is converted to yuv420p, drawn on and encoded."""
    rgb = np.zeros((360, 640, 3), np.uint8)
    rgb[..., 0] = 200
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts, frame.time_base = 0, Fraction(1, 90000)
    compositor = Compositor([_stamp_layer()])
    compositor.start()
    compositor.submit_frame(frame)
    await compositor.stop()
    packets = await _drain(compositor)
    assert _decode_stamps(packets) == [EPOCH_MS]


@pytest.mark.asyncio
async def test_odd_sized_frame_is_skipped_and_counted() -> None:
    """A frame yuv420p cannot encode is counted as bad; the next one still goes."""
    compositor = Compositor()
    compositor.start()
    compositor.submit_frame(av.VideoFrame(641, 361, "yuv420p"))
    # Taken by the worker before the next one (a newer frame would replace it).
    for _ in range(1000):
        if not compositor.pending:
            break
        await asyncio.sleep(0.005)
    compositor.submit_frame(TestPatternSource(640, 360).frame(0))
    await compositor.stop()
    packets = await _drain(compositor)
    assert compositor.stats["bad_frames"] == 1 and len(packets) == 1


def test_non_frame_input_is_rejected() -> None:
    """Submitting something that is not a VideoFrame raises BadFrame."""
    with pytest.raises(BadFrame):
        Compositor().submit_frame(np.zeros((4, 4)))  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_failing_layer_is_counted_and_skipped() -> None:
    """A layer that raises is logged and counted; later layers and encoding go on."""
    source = TestPatternSource(640, 360, 30)
    compositor = Compositor([Broken(), _stamp_layer()])
    compositor.start()
    for i in range(5):
        compositor.submit_frame(source.frame(i))
        await asyncio.sleep(0.01)
    await compositor.stop()
    packets = await _drain(compositor)
    assert compositor.stats["layer_errors"] == 5
    assert _decode_stamps(packets) == [
        EPOCH_MS + round(i * 1000 / 30) for i in range(5)
    ]


def _encoded_pattern(count: int) -> list[av.Packet]:
    source = TestPatternSource(640, 360, 30)
    encoder = open_encoder(EncoderSettings(bitrate=1_000_000), 640, 360)
    packets: list[av.Packet] = []
    for i in range(count):
        packets += encoder.encode(source.frame(i))
    return packets + list(encoder.encode(None))


class EvenFramesBox:
    """Paints a white box on even-numbered frames only."""

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        if round(timestamp * 30) % 2 == 0:
            canvas.y[100:200, 300:400] = 235


@pytest.mark.asyncio
async def test_packet_input_overlays_do_not_leak_into_reference_frames() -> None:
    """Drawing on decoded frames never bleeds into frames predicted from them."""
    packets = _encoded_pattern(10)
    compositor = Compositor(
        [EvenFramesBox()], decoder="h264", input_size=64, drop_backlog=64
    )
    compositor.start()
    for packet in packets:
        assert compositor.submit_packet(packet)
    await compositor.stop()
    decoder = open_decoder("h264")
    means = []
    for packet in await _drain(compositor):
        for frame in decoder.decode(packet):
            box = YuvCanvas.from_frame(frame).y[110:190, 310:390]
            means.append(float(box.mean()))
    assert len(means) == 10
    assert all(m > 220 for m in means[::2]) and all(m < 200 for m in means[1::2])


@pytest.mark.asyncio
async def test_packets_before_first_keyframe_are_discarded() -> None:
    """Inter-coded packets before any keyframe cannot decode and are refused."""
    packets = _encoded_pattern(5)
    compositor = Compositor(decoder="h264")
    compositor.start()
    accepted = [compositor.submit_packet(p) for p in packets[1:]]
    accepted.append(compositor.submit_packet(packets[0]))
    await compositor.stop()
    await _drain(compositor)
    assert accepted == [False] * 4 + [True]
    assert compositor.stats["packets_dropped_in"] == 4
    assert compositor.stats["decode_errors"] == 0


@pytest.mark.asyncio
async def test_vp8_output_carries_overlays() -> None:
    """With VP8 settings the output is VP8 and every frame reads its stamp."""
    source = TestPatternSource(640, 360, 30)
    settings = EncoderSettings(codec="vp8", bitrate=1_000_000)
    compositor = Compositor([_stamp_layer()], settings=settings, drop_backlog=16)
    compositor.start()
    for i in range(6):
        compositor.submit_frame(source.frame(i))
        await asyncio.sleep(0.02)
    await compositor.stop()
    stamps = _decode_stamps(await _drain(compositor), "vp8")
    assert stamps == [EPOCH_MS + round(i * 1000 / 30) for i in range(6)]


def test_h264_level_fits_resolution() -> None:
    """Levels follow Annex A: 3.1 for 720p30, 4 for 1080p30, 5.1 for 4K30."""
    from media_core.compositor import h264_level

    assert h264_level(1280, 720, 30, 3_000_000) == "3.1"
    assert h264_level(1920, 1080, 30, 6_000_000) == "4"
    assert h264_level(3840, 2160, 30, 16_000_000) == "5.1"


@pytest.mark.asyncio
async def test_packet_overflow_resyncs_on_keyframe_and_asks_upstream() -> None:
    """A full packet queue discards the backlog, waits for a keyframe, asks for one."""
    packets = _encoded_pattern(30)
    requests: list[int] = []
    compositor = Compositor(
        decoder="h264", input_size=3, on_keyframe_needed=lambda: requests.append(1)
    )
    compositor.start()
    accepted = [compositor.submit_packet(p) for p in packets[:20]]
    assert False in accepted and requests
    # Only a keyframe is accepted again after the overflow.
    assert not compositor.submit_packet(packets[21])
    assert compositor.submit_packet(packets[0])
    await compositor.stop()
    await _drain(compositor)
    assert compositor.stats["decode_errors"] == 0


@pytest.mark.asyncio
async def test_format_conversion_does_not_multiply_threads() -> None:
    """Converting many non-yuv420p frames keeps the process thread count flat."""
    threads_before = len(os.listdir("/proc/self/task"))
    compositor = Compositor(drop_backlog=64, input_size=64)
    compositor.start()
    for i in range(40):
        rgb = np.full((360, 640, 3), i * 5, np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = i * 3000, Fraction(1, 90000)
        compositor.submit_frame(frame)
    await compositor.stop()
    await _drain(compositor)
    assert compositor.stats["frames_encoded"] == 40
    assert len(os.listdir("/proc/self/task")) <= threads_before + 4


@pytest.mark.asyncio
async def test_decode_error_skips_to_next_keyframe() -> None:
    """After a corrupt packet, inter frames are skipped until the next keyframe."""
    source = TestPatternSource(320, 240, 30)
    encoder = open_encoder(EncoderSettings(codec="vp8", bitrate=500_000), 320, 240)
    packets: list[av.Packet] = []
    for i in range(8):
        frame = source.frame(i)
        if i == 5:
            frame.pict_type = av.video.frame.PictureType.I
        packets += encoder.encode(frame)
    garbage = bytearray(np.random.default_rng(1).integers(0, 256, 500, np.uint8))
    garbage[0] |= 1  # an inter frame, by its P bit
    requests: list[int] = []
    compositor = Compositor(
        decoder="vp8",
        drop_backlog=64,
        input_size=64,
        on_keyframe_needed=lambda: requests.append(1),
    )
    compositor.start()
    for packet in packets[:2] + [av.Packet(bytes(garbage))] + packets[2:]:
        compositor.submit_packet(packet)
    await compositor.stop()
    out = await _drain(compositor)
    stats = compositor.stats
    assert stats["decode_errors"] == 1 and requests == [1]
    assert stats["packets_dropped_in"] == 3  # frames 2, 3 and 4
    assert len(out) == 2 + 3  # frames 0-1, then 5-7 from the new keyframe


@pytest.mark.asyncio
async def test_frame_threaded_decoder_is_drained_on_stop() -> None:
    """With AUTO decoder threads every frame still comes out after stop()."""
    packets = _encoded_pattern(10)
    compositor = Compositor(
        decoder="h264", decoder_thread_type="AUTO", input_size=64, drop_backlog=64
    )
    compositor.start()
    for packet in packets:
        compositor.submit_packet(packet)
    await compositor.stop()
    assert len(await _drain(compositor)) == 10
