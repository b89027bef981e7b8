"""Publisher and viewer processes of ``bench/broadcast.py`` (see its docstring)."""

from __future__ import annotations

import asyncio
import logging
import pickle
import sys
import threading
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _fanout_peers  # noqa: E402
from _fanout_peers import (  # noqa: E402
    _config,
    _DecodeErrors,
    _h264_only,
    _pipe_reader,
    _recv_pipe,
    _until,
)
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack  # noqa: E402

from media_core.aiortc_fixes import MediaFixes  # noqa: E402
from media_core.canvas import YuvCanvas  # noqa: E402
from media_core.compositor import EncoderSettings, open_encoder  # noqa: E402
from media_core.sources import EndoscopySource  # noqa: E402
from media_core.stamps import read_stamp, wall_clock_ms, write_stamp  # noqa: E402
from media_core.tap import bind_keyframe_handler, install_tap  # noqa: E402

logger = logging.getLogger(__name__)

ROOM = "bench-room"
FPS = 30
#: Eight seconds of 1080p: longer than any HLS latency, so the stamp (the loop
#: index) of a frame in a segment names one send.
LOOP = 240
GOP = 60
SIZE = (1920, 1080)


# -- the pre-encoded loop ---------------------------------------------------------


def encode_loop(path: Path) -> None:
    """Encode ``LOOP`` endoscopy frames stamped with their index into ``path``."""
    source = EndoscopySource(*SIZE, FPS)
    settings = EncoderSettings(
        "h264", 6_000_000, FPS, preset="veryfast", keyframe_interval=GOP / FPS
    )
    encoder = open_encoder(settings, *SIZE)
    frames: list[bytes] = []
    for k in range(LOOP):
        frame = source.frame(k)
        write_stamp(YuvCanvas.from_frame(frame), k)
        frames.extend(bytes(p) for p in encoder.encode(frame))
    frames.extend(bytes(p) for p in encoder.encode(None))
    path.write_bytes(pickle.dumps(frames[:LOOP]))


class LoopTrack(_fanout_peers.LoopTrack):
    """The fan-out bench's paced loop; a PLI skips ahead to the next keyframe."""

    def jump(self) -> None:
        """Make the next frame a keyframe without repeating a stamp soon."""
        self.keyframe_requests += 1
        self.k = (self.k // GOP + 1) * GOP % LOOP


def load_loop(loop_file: str) -> list[bytes]:
    """The frames ``encode_loop`` wrote (this bench's own file)."""
    return list(pickle.loads(Path(loop_file).read_bytes()))  # noqa: S301


async def publisher(conn: Connection, ctl: Connection, frames: list[bytes]) -> None:
    """Offer the loop to the worker; on "stop" report what was sent when."""
    MediaFixes().apply()
    track = LoopTrack(frames)
    pc = RTCPeerConnection(_config())
    sender = pc.addTrack(track)
    bind_keyframe_handler(sender, track.jump)
    _h264_only(pc)
    await pc.setLocalDescription(await pc.createOffer())
    conn.send(pc.localDescription.sdp)
    answer = await _recv_pipe(conn)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await _recv_pipe(ctl)  # "stop"
    ctl.send((track.sent, track.keyframe_requests))
    await pc.close()


# -- viewers --------------------------------------------------------------------


class Viewer:
    """One viewing peer: the first of a process decodes, the others count."""

    def __init__(self, name: str, decode: bool) -> None:
        self.name, self.decode = name, decode
        self.frames: list[float] = []
        self.samples: list[tuple[int | None, int]] = []
        self.pc = RTCPeerConnection(_config())
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self.decode:
            asyncio.ensure_future(self._consume(track))
        else:
            receiver = self.pc.getTransceivers()[0].receiver
            install_tap(receiver, lambda p, c: self.frames.append(time.monotonic()))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                stamp = read_stamp(YuvCanvas.from_frame(frame))
                self.frames.append(time.monotonic())
                self.samples.append((stamp, wall_clock_ms()))
        except MediaStreamError:
            return


async def viewers(
    conn: Connection, ctl: Connection, names: list[str], decode_first: bool
) -> None:
    """Subscribe ``names`` when told; report fps (and latency samples) on stop."""
    MediaFixes().apply()
    errors = _DecodeErrors()
    logging.getLogger("aiortc.rtcrtpreceiver").addHandler(errors)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    commands: asyncio.Queue[Any] = asyncio.Queue()
    for source, queue in ((conn, inbox), (ctl, commands)):

        def put(item: Any, queue: asyncio.Queue[Any] = queue) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        threading.Thread(target=_pipe_reader, args=(source, put), daemon=True).start()
    peers = {
        name: Viewer(name, decode_first and i == 0) for i, name in enumerate(names)
    }

    async def answer_offers() -> None:
        while True:
            channel, message = await inbox.get()
            if message.get("type") != "media.offer":
                continue
            pc = peers[channel].pc
            await pc.setRemoteDescription(
                RTCSessionDescription(message["sdp"], "offer")
            )
            await pc.setLocalDescription(await pc.createAnswer())
            answer = {"type": "media.answer", "pc": "sub", "room": ROOM}
            answer |= {"participant": channel, "reply_to": channel}
            conn.send(answer | {"sdp": pc.localDescription.sdp})

    answering = asyncio.ensure_future(answer_offers())
    track = await commands.get()  # the track id to watch
    for name in names:
        message = {"type": "media.subscribe", "room": ROOM, "participant": name}
        conn.send(message | {"reply_to": name, "tracks": [track]})
    await _until(lambda: all(p.frames for p in peers.values()), 20, 0.1)
    ctl.send(("watching", sum(1 for p in peers.values() if p.frames)))
    await commands.get()  # "measure"
    start, errors0 = time.monotonic(), errors.count
    await commands.get()  # "stop"
    end = time.monotonic()
    fps = [
        sum(1 for t in p.frames if start <= t < end) / (end - start)
        for p in peers.values()
    ]
    first = peers[names[0]]
    window = [
        sample
        for sample, t in zip(first.samples, first.frames, strict=False)
        if start <= t < end
    ]
    ctl.send({"fps": fps, "samples": window, "decode_errors": errors.count - errors0})
    await commands.get()  # "exit"
    answering.cancel()
    for peer in peers.values():
        await peer.pc.close()


# -- annotations -----------------------------------------------------------------


def annotation_set() -> dict[str, Any]:
    """Ten annotations of every kind, two of them tracked (a busy mentor)."""
    now = wall_clock_ms()
    specs: list[tuple[str, list[list[float]], dict[str, Any]]] = [
        ("arrow", [[0.30, 0.30], [0.45, 0.42]], {}),
        ("arrow", [[0.70, 0.25], [0.58, 0.40]], {"colour": "#ffd600"}),
        ("circle", [[0.50, 0.50], [0.58, 0.50]], {"tracked": True}),
        ("circle", [[0.25, 0.70], [0.29, 0.70]], {}),
        ("freehand", [[0.1 + 0.02 * i, 0.2 + 0.01 * (i % 5)] for i in range(40)], {}),
        ("text", [[0.62, 0.62]], {"text": "Cystic artery"}),
        ("incision", [[0.35, 0.80], [0.55, 0.78], [0.70, 0.82]], {}),
        ("target", [[0.40, 0.55]], {"tracked": True}),
        ("target", [[0.80, 0.45]], {}),
        ("arrow", [[0.85, 0.75], [0.75, 0.65]], {"colour": "#00e5ff"}),
    ]
    items = []
    for n, (kind, points, extra) in enumerate(specs, start=1):
        item: dict[str, Any] = {
            "id": str(uuid.UUID(int=n)),
            "kind": kind,
            "author": "mentor",
            "colour": "#00ff66",
            "points": points,
            "frame_time": 0.0,
            "created_at_ms": now,
            "pinned": True,
            "thickness": 8.0,
        }
        item.update(extra)
        items.append(item)
    return {"annotations": items, "version": 1}
