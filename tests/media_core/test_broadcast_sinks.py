"""HLS segmenter, MP4 recorder and timeline writer on real encoded H.264."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest

from media_core.broadcast import HlsSegmenter, Mp4Recorder, TimelineWriter
from media_core.broadcast.sink import EncodedFrame
from media_core.canvas import YuvCanvas
from media_core.compositor import EncoderSettings, open_encoder
from media_core.layers import TimelineEvent
from media_core.sources import TestPatternSource
from media_core.stamps import read_stamp, write_stamp

pytestmark = pytest.mark.timeout(60)

EPOCH_MS = 1_764_300_000_000
FPS = 30


def _encoded(
    n: int, *, gop_s: float = 0.5, size: tuple[int, int] = (320, 180)
) -> list[av.Packet]:
    """``n`` stamped test-pattern frames as the compositor would encode them."""
    source = TestPatternSource(*size, FPS)
    encoder = open_encoder(EncoderSettings(keyframe_interval=gop_s), *size)
    packets: list[av.Packet] = []
    for i in range(n):
        frame = source.frame(i)
        write_stamp(YuvCanvas.from_frame(frame), EPOCH_MS + i * 33)
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    for packet in packets:
        packet.time_base = Fraction(1, 90000)
    return packets


def _frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def _playlist(directory: Path) -> str:
    return (directory / "index.m3u8").read_text()


def _wait(predicate: object, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def _feed(sink: HlsSegmenter | Mp4Recorder, packets: list[av.Packet]) -> None:
    for packet in packets:
        sink.push(packet, EPOCH_MS + packet.pts // 3000 * 33)


def test_hls_segments_decode_and_playlist_is_well_formed(tmp_path: Path) -> None:
    """Segments start at keyframes, decode, and the playlist lists them in order."""
    hls = HlsSegmenter(tmp_path, target_duration=1.0, window=10, queue_size=500)
    hls.start()
    _feed(hls, _encoded(95))
    hls.close()
    text = _playlist(tmp_path)
    lines = text.splitlines()
    assert lines[:4] == [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-TARGETDURATION:1",
        "#EXT-X-MEDIA-SEQUENCE:0",
    ]
    assert lines[-1] == "#EXT-X-ENDLIST"
    names = re.findall(r"^seg-\d+\.ts$", text, re.M)
    durations = [float(d) for d in re.findall(r"^#EXTINF:([\d.]+),$", text, re.M)]
    assert names == ["seg-00000.ts", "seg-00001.ts", "seg-00002.ts", "seg-00003.ts"]
    assert durations[:3] == [1.0, 1.0, 1.0]
    assert sum(durations) == pytest.approx(95 / FPS, abs=0.01)
    decoded = [_frames(tmp_path / name) for name in names]
    assert [len(frames) for frames in decoded] == [30, 30, 30, 5]
    first = decoded[1][0].reformat(format="yuv420p")
    assert read_stamp(YuvCanvas.from_frame(first)) == EPOCH_MS + 30 * 33
    assert not list(tmp_path.glob("*.tmp"))


def test_program_date_time_is_the_first_frames_wall_time(tmp_path: Path) -> None:
    """Each segment's EXT-X-PROGRAM-DATE-TIME is its first frame's wall time."""
    hls = HlsSegmenter(tmp_path, target_duration=1.0)
    hls.start()
    _feed(hls, _encoded(40))
    hls.close()
    stamps = re.findall(r"^#EXT-X-PROGRAM-DATE-TIME:(.+)$", _playlist(tmp_path), re.M)
    assert stamps == ["2025-11-28T03:20:00.000Z", "2025-11-28T03:20:00.990Z"]


def test_window_slides_and_old_segments_are_deleted(tmp_path: Path) -> None:
    """Only the last ``window`` segments are listed; older files go after ``grace``."""
    hls = HlsSegmenter(tmp_path, target_duration=0.5, window=2, grace=1, queue_size=500)
    hls.start()
    _feed(hls, _encoded(120))  # 8 segments of 0.5 s
    hls.close()
    text = _playlist(tmp_path)
    assert "#EXT-X-MEDIA-SEQUENCE:6" in text
    assert re.findall(r"^seg-\d+\.ts$", text, re.M) == ["seg-00006.ts", "seg-00007.ts"]
    on_disk = sorted(p.name for p in tmp_path.glob("seg-*.ts"))
    assert on_disk == ["seg-00005.ts", "seg-00006.ts", "seg-00007.ts"]


def test_playlist_without_endlist_while_live(tmp_path: Path) -> None:
    """Before close the playlist is live (no ENDLIST); a restart clears old files."""
    (tmp_path / "seg-00042.ts").write_bytes(b"stale")
    hls = HlsSegmenter(tmp_path, target_duration=0.5, queue_size=500)
    hls.start()
    assert not (tmp_path / "seg-00042.ts").exists()
    _feed(hls, _encoded(40))
    _wait(lambda: len(hls.segments) >= 2)
    assert "#EXT-X-ENDLIST" not in _playlist(tmp_path)
    hls.close()
    assert _playlist(tmp_path).endswith("#EXT-X-ENDLIST\n")


def test_new_picture_size_starts_a_discontinuity(tmp_path: Path) -> None:
    """A source of another size continues with EXT-X-DISCONTINUITY."""
    first, second = _encoded(30), _encoded(30, size=(256, 144))
    for packet in second:
        packet.pts += 30 * 3000
        packet.dts = packet.pts
    hls = HlsSegmenter(tmp_path, target_duration=0.5, queue_size=500)
    hls.start()
    _feed(hls, first + second)
    hls.close()
    text = _playlist(tmp_path)
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert text.index("#EXT-X-DISCONTINUITY") < text.index("seg-00002.ts")


def test_first_frames_before_a_keyframe_are_skipped(tmp_path: Path) -> None:
    """A sink starts at a keyframe: earlier inter frames are dropped and counted."""
    packets = _encoded(20)
    hls = HlsSegmenter(tmp_path, target_duration=0.5, queue_size=500)
    hls.start()
    _feed(hls, packets[1:])
    hls.close()
    assert hls.counters.dropped == 14
    assert hls.first is not None and hls.first.keyframe


def test_slow_writer_never_blocks_the_pusher_and_stays_bounded(tmp_path: Path) -> None:
    """A writer 10x slower than real time: push stays fast, the queue bounded."""

    class SlowHls(HlsSegmenter):
        def _write(self, frame: EncodedFrame) -> None:
            time.sleep(0.02)
            super()._write(frame)

    packets = _encoded(150, gop_s=0.5)
    hls = SlowHls(tmp_path, target_duration=0.5, queue_size=10)
    hls.start()
    slowest, deepest = 0.0, 0
    for packet in packets:
        started = time.perf_counter()
        hls.push(packet)
        slowest = max(slowest, time.perf_counter() - started)
        deepest = max(deepest, hls.pending)
    hls.close()
    assert slowest < 0.01
    assert deepest <= 10
    assert hls.counters.overflows >= 1 and hls.counters.dropped > 50
    for segment in hls.segments:
        frames = _frames(tmp_path / segment.name)
        assert frames and frames[0].key_frame


async def test_slow_writer_does_not_stall_the_event_loop(tmp_path: Path) -> None:
    """Pushing into a stalled writer from the loop keeps the loop ticking."""

    class StuckHls(HlsSegmenter):
        def _write(self, frame: EncodedFrame) -> None:
            time.sleep(0.5)

    hls = StuckHls(tmp_path, queue_size=5)
    hls.start()
    packets = _encoded(60)
    lags = []
    for packet in packets:
        before = time.perf_counter()
        hls.push(packet)
        await asyncio.sleep(0)
        lags.append(time.perf_counter() - before)
    assert max(lags) < 0.05 and hls.pending <= 5
    await hls.aclose()


def test_mp4_recording_decodes_from_zero(tmp_path: Path) -> None:
    """The MP4 holds every frame, timestamps from 0, and reports its facts."""
    path = tmp_path / "rec" / "take.mp4"
    recorder = Mp4Recorder(path)
    recorder.start()
    _feed(recorder, _encoded(60))
    recorder.close()
    frames = _frames(path)
    assert len(frames) == 60
    assert frames[0].pts == 0 and frames[0].time is not None
    assert frames[-1].time == pytest.approx(59 / FPS, abs=0.01)
    info = recorder.info()
    assert info["duration_s"] == pytest.approx(2.0, abs=0.01)
    assert info["bytes"] == path.stat().st_size > 0
    assert info["started_at_ms"] == EPOCH_MS


def test_mp4_cut_short_still_plays_its_complete_fragments(tmp_path: Path) -> None:
    """A copy taken mid-recording (a crash) decodes up to its last full GOP."""
    path = tmp_path / "take.mp4"
    recorder = Mp4Recorder(path)
    recorder.start()
    _feed(recorder, _encoded(50))
    _wait(lambda: recorder.counters.written == 50)
    shutil.copy(path, tmp_path / "crash.mp4")
    recorder.close()
    assert len(_frames(tmp_path / "crash.mp4")) == 45  # three fragments of 15
    assert len(_frames(path)) == 50


def test_timeline_json_document(tmp_path: Path) -> None:
    """Events get t from the origin; the file is the documented JSON shape."""
    writer = TimelineWriter(tmp_path / "take.timeline.json", max_events=2)
    writer.add(TimelineEvent(5.0, "vitals", {"numerics": {"hr": 70}}))  # before begin
    writer.begin(EPOCH_MS, origin=10.0)
    writer.add(TimelineEvent(9.0, "vitals", {"numerics": {"hr": 71}}))
    writer.add(TimelineEvent(12.25, "annotations", {"annotations": []}))
    writer.add(TimelineEvent(13.0, "vitals", {"numerics": {"hr": 72}}))
    writer.write(duration_s=4.5)
    document = json.loads((tmp_path / "take.timeline.json").read_text())
    assert document == {
        "version": 1,
        "started_at_ms": EPOCH_MS,
        "duration_s": 4.5,
        "events": [
            {"t": 0.0, "type": "vitals", "numerics": {"hr": 71}},
            {"t": 2.25, "type": "annotations", "annotations": []},
        ],
    }
    assert writer.dropped == 1
