"""Latency stamps survive real encoders and never read a wrong time."""

from __future__ import annotations

import functools

import av
import numpy as np
import pytest

from media_core.canvas import YuvCanvas
from media_core.compositor import EncoderSettings, open_decoder, open_encoder
from media_core.sources import EndoscopySource, TestPatternSource
from media_core.stamps import (
    StampLayer,
    crc16,
    read_stamp,
    stamp_geometry,
    write_stamp,
)

BASE_MS = 1_764_300_000_123
FRAMES = 12


@functools.cache
def _source(scene: str, width: int, height: int) -> EndoscopySource | TestPatternSource:
    if scene == "endoscopy":
        return EndoscopySource(width, height, 30)
    return TestPatternSource(width, height, 30)


def _round_trip(
    scene: str, codec: str, width: int, height: int, bitrate: int
) -> list[tuple[int, int | None]]:
    """Stamp FRAMES frames, encode, decode; return (expected, read) per frame."""
    source = _source(scene, width, height)
    settings = EncoderSettings(codec=codec, bitrate=bitrate)  # type: ignore[arg-type]
    encoder = open_encoder(settings, width, height)
    decoder = open_decoder(codec)
    expected = {}
    decoded: list[av.VideoFrame] = []
    packets: list[av.Packet] = []
    for i in range(FRAMES):
        frame = source.frame(i)
        ms = BASE_MS + i * 33 + (i % 7) * 1_000_003
        write_stamp(YuvCanvas.from_frame(frame), ms)
        expected[frame.pts] = ms
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    for packet in packets:
        decoded += decoder.decode(packet)
    decoded += decoder.decode(None)
    return [(expected[f.pts], read_stamp(YuvCanvas.from_frame(f))) for f in decoded]


CASES = [
    pytest.param("h264", 1280, 720, 1_000_000, id="h264-720p-1M"),
    pytest.param("h264", 1280, 720, 300_000, id="h264-720p-300k"),
    pytest.param("h264", 1920, 1080, 6_000_000, id="h264-1080p-6M"),
    pytest.param("h264", 3840, 2160, 16_000_000, id="h264-4k-16M"),
    pytest.param("vp8", 1280, 720, 1_000_000, id="vp8-720p-1M"),
    pytest.param("vp8", 1280, 720, 300_000, id="vp8-720p-300k"),
    pytest.param("vp8", 1920, 1080, 6_000_000, id="vp8-1080p-6M"),
]


@pytest.mark.parametrize("scene", ["pattern", "endoscopy"])
@pytest.mark.parametrize(("codec", "width", "height", "bitrate"), CASES)
def test_stamp_survives_encode_decode(
    scene: str, codec: str, width: int, height: int, bitrate: int
) -> None:
    """Every frame decoded after a real encode reads back exactly its stamp."""
    results = _round_trip(scene, codec, width, height, bitrate)
    assert len(results) == FRAMES
    assert [read for _, read in results] == [want for want, _ in results]


def test_unstamped_frame_reads_none() -> None:
    """A frame that was never stamped reads as "no stamp"."""
    frame = TestPatternSource(1280, 720).frame(3)
    assert read_stamp(YuvCanvas.from_frame(frame)) is None


def test_stamp_layer_draws_clock_time() -> None:
    """StampLayer writes its clock's time, readable straight back."""
    canvas = YuvCanvas.blank(1920, 1080)
    StampLayer(clock=lambda: BASE_MS).draw(canvas, 0.0)
    assert read_stamp(canvas) == BASE_MS


def test_stamp_layer_derives_time_from_timestamp() -> None:
    """With from_timestamp the stamp follows the frame's presentation time."""
    canvas = YuvCanvas.blank(1280, 720)
    StampLayer(from_timestamp=lambda ts: BASE_MS + round(ts * 1000)).draw(canvas, 2.5)
    assert read_stamp(canvas) == BASE_MS + 2500


def test_one_flipped_cell_reads_none() -> None:
    """Flipping a single data cell breaks the CRC and reads as no stamp."""
    canvas = YuvCanvas.blank(1280, 720)
    write_stamp(canvas, BASE_MS)
    geo = stamp_geometry(1280, 720)
    x, y = 5 * geo.cell, 2 * geo.cell  # a time bit, past the sync cells
    cell = canvas.y[y : y + geo.cell, x : x + geo.cell]
    cell[:] = 251 - cell
    assert read_stamp(canvas) is None


def test_stamp_cells_align_to_macroblocks() -> None:
    """Cells are whole 16x16 macroblocks from 720p up and fit the frame."""
    for width, height in [(1280, 720), (1920, 1080), (3840, 2160)]:
        geo = stamp_geometry(width, height)
        assert geo.cell % 16 == 0 and geo.x % 16 == 0 and geo.y % 16 == 0
        assert geo.width <= width


def test_crc16_matches_reference_check_value() -> None:
    """CRC-16/CCITT-FALSE of "123456789" is 0x29B1."""
    assert crc16(b"123456789") == 0x29B1


def _random_canvases(rng: np.random.Generator, count: int) -> list[YuvCanvas]:
    """Noise, flats, smooth blobs and random cell grids (the hardest case)."""
    geo = stamp_geometry(640, 360)
    canvases = []
    for i in range(count):
        canvas = YuvCanvas.blank(640, 360)
        kind = i % 4
        if kind == 0:
            canvas.y[:] = rng.integers(0, 256, canvas.y.shape, dtype=np.uint8)
        elif kind == 1:
            canvas.y[:] = rng.integers(0, 256)
        elif kind == 2:
            small = rng.integers(0, 256, (9, 16)).astype(np.float32)
            canvas.y[:] = np.kron(small, np.ones((40, 40)))[:360, :640]
        else:
            bits = rng.integers(0, 2, (geo.height // geo.cell, geo.width // geo.cell))
            grid = np.where(bits == 1, 235, 16).astype(np.uint8)
            block = np.kron(grid, np.ones((geo.cell, geo.cell), np.uint8))
            canvas.y[: geo.height, : geo.width] = block
        canvases.append(canvas)
    return canvases


def test_random_frames_never_read_as_stamp() -> None:
    """Thousands of random and natural-like frames all read as no stamp."""
    rng = np.random.default_rng(1234)
    hits = [read_stamp(c) for c in _random_canvases(rng, 4000)]
    assert hits.count(None) == len(hits)


def test_stamped_frame_with_noise_reads_right_or_none() -> None:
    """Heavy noise over a stamp yields the right time or None, never another."""
    rng = np.random.default_rng(99)
    results = set()
    for _ in range(100):
        canvas = YuvCanvas.blank(1280, 720)
        write_stamp(canvas, BASE_MS)
        noise = rng.normal(0, 60, canvas.y.shape)
        canvas.y[:] = np.clip(canvas.y + noise, 0, 255).astype(np.uint8)
        results.add(read_stamp(canvas))
    assert results <= {BASE_MS, None}


def test_too_small_frame_reads_none() -> None:
    """A frame too small to hold a stamp reads as None instead of raising."""
    assert read_stamp(YuvCanvas.blank(64, 48)) is None


def test_unstamped_scene_frames_read_none() -> None:
    """Natural-looking frames from both sources, at many times, read None."""
    reads = []
    for source in (_source("endoscopy", 1280, 720), _source("pattern", 1280, 720)):
        for i in range(0, 600, 20):
            reads.append(read_stamp(YuvCanvas.from_frame(source.frame(i))))
    assert reads == [None] * len(reads)
