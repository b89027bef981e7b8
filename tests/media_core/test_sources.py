"""Synthetic sources: format, timing and exactly known camera motion."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import cv2
import numpy as np
import pytest

from media_core.canvas import YuvCanvas
from media_core.errors import BadFrame
from media_core.sources import EndoscopySource, TestPatternSource
from media_core.stamps import read_stamp
from media_core.tracks import SyntheticVideoTrack


@pytest.mark.parametrize("cls", [TestPatternSource, EndoscopySource])
def test_frames_are_yuv420p_with_90khz_pts(cls: type) -> None:
    """Frames have the asked size, yuv420p, and pts = index * 90000 / fps."""
    source = cls(854 & ~1, 480, 25)
    frame = source.frame(50)
    assert (frame.width, frame.height, frame.format.name) == (854, 480, "yuv420p")
    assert frame.time_base == Fraction(1, 90000) and frame.pts == 180000


def test_pattern_frames_differ_over_time() -> None:
    """The box and counter move, so consecutive frames differ."""
    source = TestPatternSource(640, 360, 30)
    a, b = (YuvCanvas.from_frame(source.frame(i)).y for i in (10, 11))
    assert np.count_nonzero(a != b) > 100


@pytest.mark.parametrize(("width", "height", "fps"), [(3842, 2160, 30), (641, 360, 30)])
def test_invalid_formats_are_refused(width: int, height: int, fps: float) -> None:
    """Sizes above 4K or odd sizes raise BadFrame."""
    with pytest.raises(BadFrame):
        TestPatternSource(width, height, fps)


def test_fps_above_60_is_refused() -> None:
    """More than 60 fps raises BadFrame."""
    with pytest.raises(BadFrame):
        TestPatternSource(640, 360, 61)


def test_endoscopy_motion_predicts_next_frame() -> None:
    """Warping frame t0 by motion(t0, t1) reproduces frame t1 away from the tool."""
    source = EndoscopySource(640, 360, 30)
    t0, t1 = 1.0, 3.0
    y0 = YuvCanvas.from_frame(source.frame(30)).y.astype(np.float32)
    y1 = YuvCanvas.from_frame(source.frame(90)).y.astype(np.float32)
    # Vignetting is fixed to the lens, not the tissue: undo it first.
    gain = source._gain_y.astype(np.float32) / 255
    warped = cv2.warpAffine(y0 / gain, source.motion(t0, t1)[:2], (640, 360))
    inner = (slice(40, 140), slice(40, 260))  # upper left, clear of the instrument
    error = np.abs(warped[inner] - y1[inner] / gain[inner])
    still = np.abs(y0[inner] / gain[inner] - y1[inner] / gain[inner])
    assert float(np.median(error)) < 3.0 < float(np.median(still))


def test_true_offset_is_zero_at_start_and_moves() -> None:
    """true_offset starts at zero and drifts with time."""
    source = EndoscopySource(640, 360, 30)
    assert source.true_offset(0.0) == (0.0, 0.0, 0.0)
    dx, dy, _ = source.true_offset(2.0)
    assert abs(dx) + abs(dy) > 10


@pytest.mark.asyncio
async def test_track_paces_in_real_time_and_stamps() -> None:
    """No frame comes before its due time; pts are 90 kHz frame slots; stamped."""
    track = SyntheticVideoTrack(TestPatternSource(640, 360, 30), 30, stamp=True)
    loop = asyncio.get_running_loop()
    start = loop.time()
    frames = []
    for _ in range(10):
        frame = await track.recv()
        frames.append((frame, loop.time() - start))
    track.stop()
    pts = [f.pts for f, _ in frames]
    assert pts[0] == 0 and pts == sorted(set(pts))
    assert all(p % 3000 == 0 for p in pts)
    assert all(at >= f.pts / 90000 - 0.002 for f, at in frames)
    assert all(read_stamp(YuvCanvas.from_frame(f)) is not None for f, _ in frames)


@pytest.mark.asyncio
async def test_track_skips_frames_when_consumer_is_late() -> None:
    """A late consumer gets the present frame, so pts keeps up with wall time."""
    track = SyntheticVideoTrack(TestPatternSource(320, 240, 30), 30)
    first = await track.recv()
    await asyncio.sleep(0.3)
    late = await track.recv()
    track.stop()
    assert first.pts == 0
    assert late.pts >= 8 * 3000 and track.frames_skipped >= 7
