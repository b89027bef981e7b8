"""Publisher and subscriber processes of ``bench/fanout.py`` (see its docstring)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402
from aiortc import (  # noqa: E402  # noqa: E402
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack  # noqa: E402

from media_core.aiortc_fixes import MediaFixes  # noqa: E402
from media_core.canvas import YuvCanvas  # noqa: E402
from media_core.compositor import EncoderSettings, open_encoder  # noqa: E402
from media_core.sources import TestPatternSource  # noqa: E402
from media_core.stamps import read_stamp, wall_clock_ms, write_stamp  # noqa: E402
from media_core.tap import bind_keyframe_handler, install_tap  # noqa: E402

logger = logging.getLogger(__name__)

ROOM = "bench-room"
LOOP = 60
FPS = 30
WARMUP_S = 2.0
MEASURE_S = 6.0


def _config() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[])


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _h264_only(pc: RTCPeerConnection) -> None:
    caps = RTCRtpSender.getCapabilities("video").codecs
    chosen = [c for c in caps if c.mimeType in ("video/H264", "video/rtx")]
    for transceiver in pc.getTransceivers():
        transceiver.setCodecPreferences(chosen)


async def _recv_pipe(conn: Connection) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, conn.recv)


# -- publisher ------------------------------------------------------------------


def _encode_loop() -> list[bytes]:
    source = TestPatternSource(1280, 720, FPS)
    settings = EncoderSettings(
        "h264", 2_500_000, FPS, preset="veryfast", keyframe_interval=LOOP / FPS
    )
    encoder = open_encoder(settings, 1280, 720)
    out: list[bytes] = []
    for k in range(LOOP):
        frame = source.frame(k)
        write_stamp(YuvCanvas.from_frame(frame), k)
        frame.pict_type = av.video.frame.PictureType.I if k == 0 else 0
        out.extend(bytes(p) for p in encoder.encode(frame))
    out.extend(bytes(p) for p in encoder.encode(None))
    return out[:LOOP]


class LoopTrack(MediaStreamTrack):
    """Paced pre-encoded packets; ``jump`` restarts the loop at its keyframe."""

    kind = "video"

    def __init__(self, frames: list[bytes]) -> None:
        super().__init__()
        self.frames = frames
        self.n = 0
        self.k = 0
        self.start: float | None = None
        self.sent: list[tuple[int, int]] = []
        self.keyframe_requests = 0

    def jump(self) -> None:
        """Make the next frame the loop's keyframe (a PLI arrived)."""
        logger.info("keyframe request at %s (next k=%s)", wall_clock_ms(), self.k)
        self.keyframe_requests += 1
        self.k = 0

    async def recv(self) -> av.Packet:  # type: ignore[override]
        """The next frame, paced at 30 fps."""
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        due = self.start + self.n / FPS
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        packet = av.Packet(self.frames[self.k])
        packet.pts, packet.time_base = self.n * 3000, Fraction(1, 90000)
        self.sent.append((self.k, wall_clock_ms()))
        self.n += 1
        self.k = (self.k + 1) % len(self.frames)
        return packet


async def _publisher(conn: Connection, parent: Connection) -> None:
    MediaFixes().apply()
    track = LoopTrack(_encode_loop())
    pc = RTCPeerConnection(_config())
    sender = pc.addTrack(track)
    bind_keyframe_handler(sender, track.jump)
    _h264_only(pc)
    await pc.setLocalDescription(await pc.createOffer())
    conn.send(pc.localDescription.sdp)
    answer = await _recv_pipe(conn)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await _recv_pipe(parent)  # "stop"
    parent.send((track.sent, track.keyframe_requests))
    await pc.close()


# -- subscribers ----------------------------------------------------------------


class _DecodeErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to decode" in record.getMessage():
            self.count += 1


@dataclass
class Sub:
    """One subscriber's counters."""

    name: str
    decode: bool
    frames: list[float]
    samples: list[tuple[int | None, int]]
    pc: RTCPeerConnection | None = None
    connected_at: float | None = None


async def _until(predicate: Any, within: float, step: float) -> None:
    deadline = time.monotonic() + within
    # Polls plain lists filled by callbacks; an Event per list is not worth it.
    while not predicate() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(step)


def _pipe_reader(conn: Connection, put: Any) -> None:
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        put(item)


async def _subscribers(conn: Connection, parent: Connection, n: int) -> None:
    MediaFixes().apply()
    errors = _DecodeErrors()
    logging.getLogger("aiortc.rtcrtpreceiver").addHandler(errors)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    others: asyncio.Queue[Any] = asyncio.Queue()

    def put(item: Any) -> None:
        loop.call_soon_threadsafe(inbox.put_nowait, item)

    threading.Thread(target=_pipe_reader, args=(conn, put), daemon=True).start()
    subs: dict[str, Sub] = {}

    async def consume(sub: Sub, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                stamp = read_stamp(YuvCanvas.from_frame(frame))
                sub.frames.append(time.monotonic())
                sub.samples.append((stamp, wall_clock_ms()))
        except MediaStreamError:
            return

    def subscribe(name: str, decode: bool, track: str) -> None:
        sub = subs[name] = Sub(name, decode, [], [])
        pc = sub.pc = RTCPeerConnection(_config())

        @pc.on("track")
        def _on_track(remote: MediaStreamTrack) -> None:
            if sub.decode:
                asyncio.ensure_future(consume(sub, remote))
            else:
                receiver = pc.getTransceivers()[0].receiver
                install_tap(receiver, lambda p, c: sub.frames.append(time.monotonic()))

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            if pc.connectionState == "connected":
                sub.connected_at = time.monotonic()

        message = {"type": "media.subscribe", "room": ROOM, "participant": name}
        conn.send(message | {"reply_to": name, "tracks": [track]})

    async def answer_offers() -> None:
        while True:
            channel, message = await inbox.get()
            if not isinstance(message, dict) or message.get("type") != "media.offer":
                others.put_nowait((channel, message))
                continue
            pc = subs[channel].pc
            assert pc is not None
            await pc.setRemoteDescription(
                RTCSessionDescription(message["sdp"], "offer")
            )
            await pc.setLocalDescription(await pc.createAnswer())
            answer = {"type": "media.answer", "pc": "sub", "room": ROOM}
            answer |= {"participant": channel, "reply_to": channel}
            conn.send(answer | {"sdp": pc.localDescription.sdp})

    async def wait_for(predicate: Any) -> Any:
        while True:
            channel, message = await others.get()
            if predicate(channel, message):
                return message

    answering = asyncio.ensure_future(answer_offers())
    event = await wait_for(
        lambda c, m: isinstance(m, dict) and m.get("type") == "media.tracks"
    )
    track = event["tracks"][0]["track"]
    for i in range(n):
        subscribe(f"s{i}", i == 0, track)
    await _until(lambda: all(s.frames for s in subs.values()), 15, 0.1)
    await asyncio.sleep(WARMUP_S)
    conn.send("measure")
    start = time.monotonic()
    errors0 = errors.count
    await asyncio.sleep(MEASURE_S)
    end = time.monotonic()
    conn.send("stop")
    cpu = await wait_for(lambda c, m: c == "cpu")
    fps = [
        sum(1 for t in s.frames if start <= t < end) / (end - start)
        for s in subs.values()
    ]
    first = subs["s0"]
    window = [
        (k, at)
        for (k, at), t in zip(first.samples, first.frames, strict=False)
        if t >= start
    ]
    decode_errors = errors.count - errors0
    # Late joiner: time from subscribe to its first good decoded frame.
    asked = time.monotonic()
    subscribe("late", True, track)
    late = subs["late"]
    await _until(lambda: any(k is not None for k, _ in late.samples), 5, 0.005)
    good = [
        t for t, (k, _) in zip(late.frames, late.samples, strict=False) if k is not None
    ]
    parent.send(
        {
            "fps": fps,
            "window": window,
            "decode_errors": decode_errors,
            "relay_cpu": cpu,
            "late_ms": (good[0] - asked) * 1000 if good else None,
            "late_bad": sum(1 for k, _ in late.samples if k is None),
            "late_connect_ms": (late.connected_at - asked) * 1000
            if late.connected_at
            else None,
        }
    )
    conn.send("exit")
    answering.cancel()
    for sub in subs.values():
        if sub.pc is not None:
            await sub.pc.close()
