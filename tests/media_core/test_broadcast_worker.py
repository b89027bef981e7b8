"""Composite feeds through the worker with real aiortc peers in one loop.

A publisher sends a stamped test pattern; a mentor starts a composite with
annotations and vitals; a viewer subscribes to ``composite:<name>`` over
WebRTC. HLS, MP4 and the timeline land in ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media_core.canvas import YuvCanvas
from media_core.draw import rgb_to_yuv
from media_core.sources import TestPatternSource
from media_core.stamps import read_stamp, wall_clock_ms
from media_core.tracks import SyntheticVideoTrack
from media_core.worker import MediaWorker, QueueTransport
from surgery_guidance.telestration.live import LiveAnnotationLayer
from tests.media_core.rtc_helpers import (
    GROUP,
    Client,
    no_stun,
    running_worker,
    stamped_track,
)

pytestmark = pytest.mark.timeout(90)

FACTORIES = {"annotations": LiveAnnotationLayer.from_spec}
GREEN = rgb_to_yuv(0, 255, 0)
#: A thick green arrow across the middle, clear of the stamp and the vitals.
ARROW = [[0.3, 0.45], [0.75, 0.45]]
LAYERS = [{"kind": "annotations", "tracking": False}, {"kind": "vitals"}]


class Viewer(Client):
    """A client that keeps the decoded planes of the frames it receives."""

    def __init__(self, transport: QueueTransport, participant: str) -> None:
        super().__init__(transport, participant)
        self.frames: list[tuple[int | None, int, YuvCanvas]] = []
        self.got = asyncio.Event()

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                planes = YuvCanvas.from_frame(frame)
                copy = YuvCanvas(planes.y.copy(), planes.u.copy(), planes.v.copy())
                self.frames.append((read_stamp(copy), wall_clock_ms(), copy))
                del self.frames[:-90]
                self.got.set()

    async def watch(self, track_id: str) -> None:
        """Subscribe to ``track_id`` and answer the worker's offer."""
        self.sub = RTCPeerConnection(no_stun())

        @self.sub.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            asyncio.ensure_future(self._consume(track))

        self.send("media.subscribe", tracks=[track_id])
        offer = await self.expect("media.offer")
        await self.sub.setRemoteDescription(
            RTCSessionDescription(str(offer["sdp"]), "offer")
        )
        await self.sub.setLocalDescription(await self.sub.createAnswer())
        self.send("media.answer", pc="sub", sdp=self.sub.localDescription.sdp)

    async def until(self, check: Any, within: float = 10.0) -> YuvCanvas:
        """The first new frame whose planes pass ``check``."""
        seen = len(self.frames)
        async with asyncio.timeout(within):
            while True:
                for _, _, canvas in self.frames[seen:]:
                    if check(canvas):
                        return canvas
                seen = len(self.frames)
                self.got.clear()
                await self.got.wait()


def _near(canvas: YuvCanvas, x: float, y: float, yuv: tuple[int, int, int]) -> bool:
    """Whether the pixel at normalised (x, y) has ``yuv`` (within compression)."""
    px, py = round(x * (canvas.width - 1)), round(y * (canvas.height - 1))
    got = (canvas.y[py, px], canvas.u[py // 2, px // 2], canvas.v[py // 2, px // 2])
    return all(abs(int(a) - b) <= 16 for a, b in zip(got, yuv, strict=True))


async def _tracks(transport: QueueTransport) -> list[dict[str, Any]]:
    """The room's next ``media.tracks`` list."""
    event = await transport.expect_group(GROUP, "media.tracks")
    return list(event["tracks"])  # type: ignore[call-overload]


def _wait_for(path: Path, text: str, within: float) -> None:
    """Poll ``path`` until it contains ``text`` (a file: no event to wait on)."""
    deadline = time.monotonic() + within
    while not (path.exists() and text in path.read_text()):
        assert time.monotonic() < deadline, f"{text} never appeared in {path}"
        time.sleep(0.05)


def _arrow(n: int = 1, **over: Any) -> dict[str, Any]:
    data = {
        "id": str(uuid.UUID(int=n)),
        "kind": "arrow",
        "author": "mentor",
        "colour": "#00ff00",
        "points": ARROW,
        "frame_time": 12.0,
        "created_at_ms": wall_clock_ms(),
        "thickness": 30.0,
        "pinned": True,
    }
    data.update(over)
    return data


@contextlib.asynccontextmanager
async def _room(
    tmp_path: Path,
) -> AsyncIterator[tuple[MediaWorker, QueueTransport, Client, str]]:
    async with running_worker(output_root=tmp_path, layer_factories=FACTORIES) as (
        worker,
        transport,
    ):
        surgeon = Client(transport, "surgeon")
        await surgeon.publish(stamped_track())
        event = await transport.expect_group(GROUP, "media.tracks")
        yield worker, transport, surgeon, str(event["tracks"][0]["track"])  # type: ignore[index]
        await surgeon.close()


async def test_viewer_sees_annotations_vitals_and_the_stamp(tmp_path: Path) -> None:
    """The composite track carries the arrow, the vitals panel and a readable stamp."""
    async with _room(tmp_path) as (worker, transport, surgeon, source):
        mentor, viewer = Client(transport, "mentor"), Viewer(transport, "viewer")
        mentor.send("media.composite.start", source=source, name="live", layers=LAYERS)
        started = await mentor.expect("media.composite.started")
        assert started["track"] == "composite:live"
        assert started["hls"] is None and started["recording"] is None
        tracks = (await transport.expect_group(GROUP, "media.tracks"))["tracks"]
        entry = next(t for t in tracks if t["track"] == "composite:live")  # type: ignore[union-attr]
        assert {k: entry[k] for k in ("participant", "kind", "codec", "label")} == {
            "participant": "composite",
            "kind": "video",
            "codec": "h264",
            "label": "composite",
        }
        await viewer.watch("composite:live")
        # Another arrow lies over the stamp block: the keeper must restore it.
        over_stamp = _arrow(2, points=[[0.0, 0.05], [0.5, 0.05]])
        data = {"annotations": [_arrow(), over_stamp], "version": 1}
        mentor.send("media.layer", composite="live", kind="annotations", data=data)
        canvas = await viewer.until(lambda c: _near(c, 0.4, 0.45, GREEN))
        assert read_stamp(canvas) is not None
        # The vitals panel (bottom-left) puts colour on the pattern's grey ramp.
        panel = canvas.u[136:178, 3:141].astype(int) - 128
        assert int(np.count_nonzero(np.abs(panel) > 20)) > 50
        for _ in range(30):
            await viewer.until(lambda c: True)
        late = [arrival - s for s, arrival, _ in viewer.frames[-30:] if s is not None]
        assert len(late) >= 20 and 0 <= float(np.median(late)) < 1000
        stats = worker.composite_stats()["live"]
        assert stats["stamps"]["read"] > 0 and stats["compositor"]["layer_errors"] == 0
        await viewer.close()
        await mentor.close()


async def test_hls_and_recording_with_timeline(tmp_path: Path) -> None:
    """HLS goes live and ends; the MP4 decodes and its timeline dates the arrow."""
    async with _room(tmp_path) as (_, transport, surgeon, source):
        mentor = Client(transport, "mentor")
        mentor.send(
            "media.composite.start",
            source=source,
            name="or-1",
            layers=LAYERS,
            record=True,
            hls=True,
        )
        started = await mentor.expect("media.composite.started")
        assert started["hls"] == "hls/or-1/index.m3u8"
        recording = started["recording"]
        assert isinstance(recording, dict)
        assert recording["video"].startswith("recordings/or-1/")
        playlist = tmp_path / str(started["hls"])
        await asyncio.to_thread(_wait_for, playlist, "seg-00001.ts", 15)
        assert "#EXT-X-ENDLIST" not in playlist.read_text()
        data = {"annotations": [_arrow()], "version": 1}
        mentor.send("media.layer", composite="or-1", kind="annotations", data=data)
        await asyncio.sleep(1.5)
        mentor.send("media.composite.stop", composite="or-1")
        stopped = await mentor.expect("media.composite.stopped", within=15)
        assert playlist.read_text().endswith("#EXT-X-ENDLIST\n")
        with av.open(str(playlist.parent / "seg-00000.ts")) as segment:
            assert next(segment.decode(video=0)).key_frame
        info = stopped["recording"]
        assert isinstance(info, dict) and info["video"] == recording["video"]
        assert info["bytes"] > 0 and info["duration_s"] > 3
        with av.open(str(tmp_path / info["video"])) as container:
            frames = [
                (f.time, YuvCanvas.from_frame(f.reformat(format="yuv420p")))
                for f in container.decode(video=0)
            ]
        shown = next(t for t, c in frames if _near(c, 0.4, 0.45, GREEN))
        timeline = json.loads((tmp_path / info["timeline"]).read_text())
        assert timeline["version"] == 1
        assert timeline["started_at_ms"] == info["started_at_ms"]
        (event,) = [e for e in timeline["events"] if e["type"] == "annotations"]
        assert event["t"] == pytest.approx(shown, abs=0.07)
        assert event["annotations"][0]["id"] == _arrow()["id"]
        vitals = [e for e in timeline["events"] if e["type"] == "vitals"]
        assert len(vitals) >= 3 and vitals[0]["numerics"]["hr"] > 30
        listed = [t["track"] for t in await _tracks(transport)]
        while "composite:or-1" in listed:  # the start's own announcement first
            listed = [t["track"] for t in await _tracks(transport)]
        await mentor.close()


async def test_rebind_to_a_republished_source_keeps_the_output(tmp_path: Path) -> None:
    """The publisher leaves (composite stays), a new source is bound, viewers go on."""
    async with _room(tmp_path) as (worker, transport, surgeon, source):
        mentor, viewer = Client(transport, "mentor"), Viewer(transport, "viewer")
        mentor.send("media.composite.start", source=source, name="live", layers=[])
        await mentor.expect("media.composite.started")
        await viewer.watch("composite:live")
        await viewer.until(lambda c: read_stamp(c) is not None)
        surgeon.send("media.leave")
        tracks = (await transport.expect_group(GROUP, "media.tracks"))["tracks"]
        while len(tracks) != 1:  # type: ignore[arg-type]
            tracks = (await transport.expect_group(GROUP, "media.tracks"))["tracks"]
        assert tracks[0]["track"] == "composite:live"  # type: ignore[index]
        # The new camera's clock runs 100 s ahead, so its frames are recognisable.
        ahead = 100_000
        camera = SyntheticVideoTrack(
            TestPatternSource(640, 360, 30),
            stamp=True,
            clock=lambda: wall_clock_ms() + ahead,
        )
        second = Client(transport, "surgeon2")
        await second.publish(camera, "video/H264")  # another codec: a new decoder
        tracks = (await transport.expect_group(GROUP, "media.tracks"))["tracks"]
        new_source = next(t["track"] for t in tracks if t["participant"] == "surgeon2")  # type: ignore[union-attr]
        mentor.send("media.composite.start", source=new_source, name="live", layers=[])
        again = await mentor.expect("media.composite.started")
        assert again["source"] == new_source
        await viewer.until(lambda c: (read_stamp(c) or 0) > wall_clock_ms() + ahead / 2)
        stats = worker.composite_stats()["live"]
        assert stats["binds"] == 2 and stats["source_ended"] == 1
        await viewer.close()
        await second.close()
        await mentor.close()


async def test_close_room_finalises_the_recording(tmp_path: Path) -> None:
    """media.close_room stops the composite and tells its starter, files complete."""
    async with _room(tmp_path) as (_, transport, surgeon, source):
        mentor = Client(transport, "mentor")
        mentor.send(
            "media.composite.start", source=source, name="c", layers=[], record=True
        )
        await mentor.expect("media.composite.started")
        await asyncio.sleep(2.5)
        surgeon.send("media.close_room")
        stopped = await mentor.expect("media.composite.stopped", within=15)
        assert stopped["reason"] == "room_closed"
        info = stopped["recording"]
        assert isinstance(info, dict)
        with av.open(str(tmp_path / info["video"])) as container:
            assert sum(1 for _ in container.decode(video=0)) > 30
        assert json.loads((tmp_path / info["timeline"]).read_text())["version"] == 1


async def test_worker_close_stops_composites(tmp_path: Path) -> None:
    """Closing the worker finishes every composite's files."""
    transport = QueueTransport()
    worker = MediaWorker(
        "w", transport, rtc_configuration=no_stun(), output_root=tmp_path
    )
    task = asyncio.ensure_future(worker.run())
    surgeon, mentor = Client(transport, "surgeon"), Client(transport, "mentor")
    await surgeon.publish(stamped_track())
    event = await transport.expect_group(GROUP, "media.tracks")
    source = event["tracks"][0]["track"]  # type: ignore[index]
    mentor.send("media.composite.start", source=source, name="x", layers=[], hls=True)
    await mentor.expect("media.composite.started")
    await asyncio.sleep(2.5)
    await worker.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert (tmp_path / "hls/x/index.m3u8").read_text().endswith("#EXT-X-ENDLIST\n")
    await surgeon.close()
