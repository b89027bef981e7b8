"""Glass-to-glass latency, stock aiortc against our fixes, in the same run.

Run: ``.venv/bin/python bench/latency.py`` (about 1.5 minutes on 2 cores).
A publisher process sends a stamped synthetic H.264 video track to a receiver
process over UDP on this host (aioice skips 127.0.0.1, so the host address is
used; the kernel still routes it over loopback). The receiver decodes every
frame and reads the capture time back from the stamp: latency = decode done -
stamp (both processes share the wall clock). Cases: 720p, 1080p and 4K, each
with stock aiortc and with ``MediaFixes()`` applied in both processes. The
publisher skips frames when the encoder is behind, so fps is the highest the
CPU allows. CPU is each process's CPU time / wall time (100 % = one core).
Targets: 1080p30 p50 <= 40 ms; 4K p50 <= 150 ms.
The last line is machine-readable: ``bench: key=value ...``.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc import (  # noqa: E402
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack  # noqa: E402

from media_core.aiortc_fixes import MediaFixes  # noqa: E402
from media_core.canvas import YuvCanvas  # noqa: E402
from media_core.sources import TestPatternSource  # noqa: E402
from media_core.stamps import read_stamp, wall_clock_ms  # noqa: E402
from media_core.tracks import SyntheticVideoTrack  # noqa: E402

logger = logging.getLogger(__name__)

WARMUP_S = 2.0
MEASURE_S = 6.0
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}


@dataclass
class Result:
    """One case's figures."""

    label: str
    fixed: bool
    sent_fps: float
    recv_fps: float
    p50: float | None
    p95: float | None
    pub_cpu: float
    recv_cpu: float
    unreadable: int


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _h264_only(pc: RTCPeerConnection) -> None:
    caps = RTCRtpSender.getCapabilities("video").codecs
    chosen = [c for c in caps if c.mimeType in ("video/H264", "video/rtx")]
    for transceiver in pc.getTransceivers():
        transceiver.setCodecPreferences(chosen)


async def _publisher(conn: Connection, size: str, fixed: bool) -> None:
    fixes = MediaFixes() if fixed else None
    if fixes:
        fixes.apply()
    width, height = SIZES[size]
    track = SyntheticVideoTrack(TestPatternSource(width, height, 30), stamp=True)
    sent = 0
    original = track.recv

    async def counting_recv() -> object:
        nonlocal sent
        frame = await original()
        sent += 1
        return frame

    track.recv = counting_recv  # type: ignore[method-assign]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(track)
    _h264_only(pc)
    await pc.setLocalDescription(await pc.createOffer())
    conn.send(pc.localDescription.sdp)
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(None, conn.recv)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await loop.run_in_executor(None, conn.recv)  # "measure"
    cpu0, wall0, sent0 = _cpu(), time.monotonic(), sent
    await loop.run_in_executor(None, conn.recv)  # "stop"
    elapsed = time.monotonic() - wall0
    conn.send(((sent - sent0) / elapsed, 100 * (_cpu() - cpu0) / elapsed))
    await pc.close()
    track.stop()


async def _receiver(conn: Connection, fixed: bool) -> None:
    fixes = MediaFixes() if fixed else None
    if fixes:
        fixes.apply()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    samples: list[tuple[float, int | None]] = []

    async def consume(track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                stamp = read_stamp(YuvCanvas.from_frame(frame))
                now = wall_clock_ms()
                samples.append(
                    (time.monotonic(), None if stamp is None else now - stamp)
                )
        except MediaStreamError:
            return

    tasks = []

    @pc.on("track")
    def _on_track(track: MediaStreamTrack) -> None:
        tasks.append(asyncio.ensure_future(consume(track)))

    loop = asyncio.get_running_loop()
    offer = await loop.run_in_executor(None, conn.recv)
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    conn.send(pc.localDescription.sdp)
    await asyncio.sleep(WARMUP_S)
    conn.send("measure")
    start, cpu0 = time.monotonic(), _cpu()
    await asyncio.sleep(MEASURE_S)
    elapsed = time.monotonic() - start
    cpu = 100 * (_cpu() - cpu0) / elapsed
    window = [lat for t, lat in samples if t >= start]
    conn.send("stop")
    conn.send((len(window) / elapsed, cpu, window))
    await pc.close()
    for task in tasks:
        task.cancel()


def _run_publisher(conn: Connection, size: str, fixed: bool) -> None:
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_publisher(conn, size, fixed))


def _run_receiver(conn: Connection, fixed: bool) -> None:
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_receiver(conn, fixed))


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def run_case(size: str, fixed: bool) -> Result:
    """Publisher and receiver processes; the parent relays their messages."""
    ctx = mp.get_context("spawn")
    pub_parent, pub_child = ctx.Pipe()
    recv_parent, recv_child = ctx.Pipe()
    pub = ctx.Process(target=_run_publisher, args=(pub_child, size, fixed))
    recv = ctx.Process(target=_run_receiver, args=(recv_child, fixed))
    pub.start()
    recv.start()
    try:
        recv_parent.send(pub_parent.recv())  # offer
        pub_parent.send(recv_parent.recv())  # answer
        pub_parent.send(recv_parent.recv())  # measure
        pub_parent.send(recv_parent.recv())  # stop
        recv_fps, recv_cpu, window = recv_parent.recv()
        sent_fps, pub_cpu = pub_parent.recv()
    finally:
        pub.join(20)
        recv.join(20)
        for proc in (pub, recv):
            if proc.is_alive():
                proc.kill()
    lats = [float(x) for x in window if x is not None]
    label = f"{size} {'fixed' if fixed else 'stock'}"
    return Result(
        label,
        fixed,
        sent_fps,
        recv_fps,
        _quantile(lats, 0.5),
        _quantile(lats, 0.95),
        pub_cpu,
        recv_cpu,
        sum(1 for x in window if x is None),
    )


def _fmt(value: float | None) -> str:
    return f"{value:8.1f}" if value is not None else "       -"


def main() -> None:
    """Run every case and print the table and the summary line."""
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f} codec=H.264")
    results = []
    sizes = os.environ.get("BENCH_SIZES", ",".join(SIZES)).split(",")
    for size in sizes:
        for fixed in (False, True):
            result = run_case(size, fixed)
            print(f"  done {result.label}: {result.recv_fps:.1f} fps", flush=True)
            results.append(result)
    print()
    print(
        f"{'case':<14}{'sent':>8}{'recv':>8}{'p50':>8}{'p95':>8}"
        f"{'pubCPU':>8}{'rcvCPU':>8}{'noStamp':>8}"
    )
    for r in results:
        print(
            f"{r.label:<14}{r.sent_fps:8.1f}{r.recv_fps:8.1f}{_fmt(r.p50)}"
            f"{_fmt(r.p95)}{r.pub_cpu:8.1f}{r.recv_cpu:8.1f}{r.unreadable:8d}"
        )
    print("(fps; latency ms, stamp to decoded frame; CPU % of one core)")
    parts = []
    for r in results:
        key = r.label.replace(" ", "_")
        parts.append(f"{key}_fps={r.recv_fps:.1f}")
        parts.append(f"{key}_p50_ms={_fmt(r.p50).strip()}")
        parts.append(f"{key}_p95_ms={_fmt(r.p95).strip()}")
    by = {r.label: r for r in results}
    for size in sizes:
        stock, fixed = by[f"{size} stock"], by[f"{size} fixed"]
        if stock.p50 and fixed.p50:
            parts.append(f"{size}_p50_ratio={fixed.p50 / stock.p50:.2f}")
    parts.append(f"loadavg_1m={os.getloadavg()[0]:.1f}")
    print("bench: " + " ".join(parts))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
