"""Live HLS from the compositor's encoded output: MPEG-TS segments and a playlist.

``HlsSegmenter(directory)`` takes H.264 ``av.Packet``\\ s (Annex B, pts in
1/90000, as ``media_core.compositor.Compositor`` makes them) with ``push`` on
the event loop and writes, on its own thread (see ``sink.PacketSink``):

* ``seg-<n>.ts``: one MPEG-TS file per segment, each starting at a keyframe
  with its own PAT/PMT. A segment is cut at the first keyframe once it has
  lasted ``target_duration`` seconds, so segments are never shorter than that
  and only longer when keyframes are late. Timestamps are the compositor's,
  continuous across segments. A segment is written under a ``.tmp`` name and
  renamed when complete.
* ``index.m3u8``: rewritten atomically (temp file + ``os.replace``) after every
  segment, with the last ``window`` segments. Each segment carries
  ``EXT-X-PROGRAM-DATE-TIME``: the wall-clock time of its first frame (the
  frame's capture stamp when the feed knows it), so a player, or a benchmark,
  can measure latency. A change of SPS/PPS (a new source with another size)
  starts a segment with ``EXT-X-DISCONTINUITY``. ``close`` writes
  ``EXT-X-ENDLIST``.

Segments that slide out of the playlist are deleted ``grace`` segments later;
the default keeps them for one playlist length more, as RFC 8216 section 6.2.2
asks (a client may still be fetching one). ``start`` removes the files a
previous run left in the directory (``seg-*.ts``, ``*.tmp``, ``index.m3u8``).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av

from media_core.broadcast.sink import (
    TICKS,
    TIME_BASE,
    EncodedFrame,
    PacketSink,
    h264_template,
)

logger = logging.getLogger(__name__)

PLAYLIST = "index.m3u8"
_OURS = re.compile(r"(seg-\d+\.ts|.*\.tmp|index\.m3u8)")


@dataclass(frozen=True, slots=True)
class Segment:
    """One finished segment: file name, media sequence number, timing."""

    name: str
    sequence: int
    duration: float
    wall_ms: int
    discontinuity: bool


def program_date_time(wall_ms: int) -> str:
    """ISO 8601 UTC with milliseconds, as ``EXT-X-PROGRAM-DATE-TIME`` wants."""
    moment = datetime.fromtimestamp(wall_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{wall_ms % 1000:03d}Z"


class HlsSegmenter(PacketSink):
    """Writes a live HLS rendition of one encoded feed into ``directory``.

    ``target_duration`` is in seconds; ``window`` is how many segments the
    playlist lists; ``grace`` how many more segments a removed one is kept
    (``None``: ``window + 1``). ``queue_size`` bounds the frames waiting for
    the writer thread. Threading as ``PacketSink``; ``segments`` belongs to
    the writer thread until ``close`` (read it afterwards, or read the
    playlist file).
    """

    def __init__(
        self,
        directory: Path,
        *,
        target_duration: float = 2.0,
        window: int = 6,
        grace: int | None = None,
        queue_size: int = 90,
        name: str = "hls",
    ) -> None:
        super().__init__(name, queue_size=queue_size)
        if not 0.2 <= target_duration <= 30 or window < 1:
            raise ValueError("target_duration must be 0.2..30 s and window >= 1")
        self.directory = Path(directory)
        self.target_duration = float(target_duration)
        self.window = window
        self.grace = window + 1 if grace is None else max(0, grace)
        self.playlist = self.directory / PLAYLIST
        #: The segments listed in the playlist, oldest first.
        self.segments: deque[Segment] = deque()
        self.ended = False
        self._removed: deque[Segment] = deque()
        self._discontinuities_removed = 0
        self._longest = 0.0
        self._sequence = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._open: tuple[str, int, int, bool] | None = None  # name, pts, wall, disc
        self._extradata: bytes | None = None
        self._last_pts: int | None = None
        self._frame_ticks = 3000

    def start(self) -> None:
        """Create the directory, clear a previous run's files, start the writer."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in self.directory.iterdir():
            if path.is_file() and _OURS.fullmatch(path.name):
                path.unlink(missing_ok=True)
        super().start()

    # -- writer thread ---------------------------------------------------------

    def _write(self, frame: EncodedFrame) -> None:
        if self._last_pts is not None and frame.pts > self._last_pts:
            # The latest frame interval, to time the final segment.
            self._frame_ticks = min(frame.pts - self._last_pts, TICKS)
        if self._open is not None and frame.keyframe:
            started = self._open[1]
            if frame.pts - started >= self.target_duration * TICKS - 1:
                self._close_segment(frame.pts)
        if self._open is None:
            if not frame.keyframe:
                return  # the segment that failed to open resumes at a keyframe
            self._open_segment(frame)
        assert self._stream is not None and self._container is not None  # noqa: S101
        self._container.mux(frame.packet(self._stream))
        self._last_pts = frame.pts

    def _open_segment(self, frame: EncodedFrame) -> None:
        name = f"seg-{self._sequence:05d}.ts"
        container = av.open(str(self.directory / f"{name}.tmp"), "w", format="mpegts")
        try:
            with h264_template(frame.data) as template:
                stream = container.add_stream_from_template(template)
                extradata = bytes(template.codec_context.extradata or b"")
        except BaseException:
            container.close()
            raise
        stream.time_base = TIME_BASE
        discontinuity = self._extradata is not None and extradata != self._extradata
        self._extradata = extradata
        self._container, self._stream = container, stream
        self._open = (name, frame.pts, frame.wall_ms, discontinuity)

    def _close_segment(self, end_pts: int) -> None:
        """Finish the open segment, ending at ``end_pts``, and publish it."""
        container, opened = self._container, self._open
        self._container = self._stream = None
        self._open = None
        if container is None or opened is None:
            return
        name, start_pts, wall_ms, discontinuity = opened
        try:
            container.close()
        except av.FFmpegError as exc:
            logger.warning("%s: segment %s is broken: %s", self.name, name, exc)
            (self.directory / f"{name}.tmp").unlink(missing_ok=True)
            return
        os.replace(self.directory / f"{name}.tmp", self.directory / name)
        duration = max(end_pts - start_pts, 1) / TICKS
        segment = Segment(name, self._sequence, duration, wall_ms, discontinuity)
        self._sequence += 1
        self._longest = max(self._longest, duration)
        self.segments.append(segment)
        while len(self.segments) > self.window:
            gone = self.segments.popleft()
            self._discontinuities_removed += gone.discontinuity
            self._removed.append(gone)
        while len(self._removed) > self.grace:
            (self.directory / self._removed.popleft().name).unlink(missing_ok=True)
        self._write_playlist()

    def _write_playlist(self) -> None:
        first = self.segments[0].sequence if self.segments else self._sequence
        target = max(math.ceil(self.target_duration), math.ceil(self._longest - 1e-3))
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{target}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
        ]
        if self._discontinuities_removed:
            lines.append(
                f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuities_removed}"
            )
        for segment in self.segments:
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(
                f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(segment.wall_ms)}"
            )
            lines.append(f"#EXTINF:{segment.duration:.3f},")
            lines.append(segment.name)
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        temp = self.playlist.with_name(f"{PLAYLIST}.tmp")
        temp.write_text("\n".join(lines) + "\n")
        os.replace(temp, self.playlist)

    def _finish(self) -> None:
        self.ended = True
        if self._open is not None and self._last_pts is not None:
            self._close_segment(self._last_pts + self._frame_ticks)
        else:
            self._write_playlist()
