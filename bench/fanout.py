"""Fan-out: passthrough relay (MediaWorker) against aiortc's MediaRelay re-encoding.

Run: ``.venv/bin/python bench/fanout.py`` (about 2 minutes on 2 cores).
Three processes per case, talking over UDP on this host:

* publisher: a 720p30 H.264 2.5 Mbps loop of 60 pre-encoded frames (no encode
  cost); each frame's stamp holds its loop index. A PLI/FIR makes it jump to
  the loop's keyframe, like a live encoder forcing an IDR. It logs when it
  sent each index.
* relay (measured): ``passthrough`` runs ``media_core.worker.MediaWorker``
  through a pipe transport; ``reencode`` decodes the publisher's track and
  re-encodes it per subscriber through ``aiortc.contrib.media.MediaRelay``.
* subscribers: N peer connections; subscriber 0 decodes and reads the stamp
  (latency = decoded - sent, corrupt = decode error or unreadable stamp), the
  others count tapped frames (so the harness stays cheap). Then a late joiner
  subscribes and the time to its first good decoded frame is measured.

``MediaFixes()`` is applied in every process of both modes, so the two modes
differ only in relaying. CPU is process CPU time / wall time (100 % = one core).
Targets: 32 subscribers at 30 fps, no corrupt frame, relay < 60 % of a core,
late joiner <= 300 ms. The last line is machine-readable: ``bench: ...``.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _fanout_peers import (  # noqa: E402
    ROOM,
    _config,
    _cpu,
    _h264_only,
    _pipe_reader,
    _publisher,
    _subscribers,
)
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.contrib.media import MediaRelay  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402

from media_core.aiortc_fixes import MediaFixes  # noqa: E402
from media_core.worker import MediaWorker  # noqa: E402

logger = logging.getLogger(__name__)

CASES = [("passthrough", n) for n in (1, 4, 16, 32)]
CASES += [("reencode", n) for n in (1, 4)]


# -- relay ------------------------------------------------------------------------


class PipeTransport:
    """A worker ``Transport`` over the bench's pipes (channel = peer name)."""

    def __init__(self, pub: Connection, subs: Connection) -> None:
        self.pub, self.subs = pub, subs
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive(self) -> dict[str, Any]:
        """The next message from either pipe."""
        return await self.inbox.get()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """To the publisher (``pub``) or the subscriber process."""
        if message["type"] == "media.answer" and message["pc"] == "pub":
            self.pub.send(message["sdp"])
        else:
            self.subs.send((channel, message))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Room events go to the subscriber process."""
        self.subs.send((group, message))


async def _relay(mode: str, pub: Connection, subs: Connection) -> None:
    MediaFixes().apply()
    loop = asyncio.get_running_loop()
    control: asyncio.Queue[Any] = asyncio.Queue()
    transport = PipeTransport(pub, subs)
    worker = MediaWorker("bench", transport, rtc_configuration=_config())
    pcs: dict[str, RTCPeerConnection] = {}
    media_relay = MediaRelay()
    source: list[MediaStreamTrack] = []

    for conn, kind in ((pub, "pub"), (subs, "subs")):

        def put(item: Any, kind: str = kind) -> None:
            loop.call_soon_threadsafe(control.put_nowait, (kind, item))

        threading.Thread(target=_pipe_reader, args=(conn, put), daemon=True).start()
    worker_task = asyncio.ensure_future(worker.run()) if mode == "passthrough" else None
    cpu0 = wall0 = 0.0
    sent0: dict[str, int] = {}

    def sent_frames() -> dict[str, int]:
        # Frames each subscriber's sender took from the relay (relay side).
        if mode == "reencode":
            return dict(REENCODED)
        room = worker._rooms.get(ROOM)
        tracks = room.tracks.values() if room else ()
        return {
            sub.name: sub.counters.forwarded
            for track in tracks
            for sub in track.relay.subscribers
        }

    while True:
        kind, item = await control.get()
        if kind == "pub" and mode == "passthrough":
            transport.inbox.put_nowait(
                {"type": "media.offer", "pc": "pub", "sdp": item, "room": ROOM}
                | {"participant": "pub", "reply_to": "pub"}
            )
        elif kind == "pub":
            pc = pcs["pub"] = RTCPeerConnection(_config())
            pc.on("track", source.append)
            await pc.setRemoteDescription(RTCSessionDescription(item, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            pub.send(pc.localDescription.sdp)
            subs.send(("room", {"type": "media.tracks", "tracks": [{"track": "t"}]}))
        elif item == "measure":
            cpu0, wall0, sent0 = _cpu(), time.monotonic(), sent_frames()
        elif item == "stop":
            elapsed = time.monotonic() - wall0
            cpu = 100 * (_cpu() - cpu0) / elapsed
            sent = sent_frames()
            fps = [(sent[k] - sent0.get(k, 0)) / elapsed for k in sent if k in sent0]
            subs.send(("cpu", {"cpu": cpu, "relay_fps": fps}))
        elif item == "exit":
            break
        elif mode == "passthrough":
            transport.inbox.put_nowait(item)
        else:
            await _reencode_message(item, pcs, media_relay, source[0], subs)
    if worker_task is not None:
        await worker.close()
        worker_task.cancel()
    for pc in pcs.values():
        await pc.close()


#: Frames each re-encoding sender pulled, by subscriber.
REENCODED: dict[str, int] = {}


def _counted(track: MediaStreamTrack, name: str) -> MediaStreamTrack:
    original = track.recv
    REENCODED[name] = 0

    async def recv() -> Any:
        frame = await original()
        REENCODED[name] += 1
        return frame

    track.recv = recv  # type: ignore[method-assign]
    return track


async def _reencode_message(
    message: dict[str, Any],
    pcs: dict[str, RTCPeerConnection],
    relay: MediaRelay,
    source: MediaStreamTrack,
    subs: Connection,
) -> None:
    who = message["participant"]
    if message["type"] == "media.subscribe":
        pc = pcs[who] = RTCPeerConnection(_config())
        pc.addTrack(_counted(relay.subscribe(source), who))
        _h264_only(pc)
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "media.offer", "pc": "sub", "sdp": pc.localDescription.sdp}
        subs.send((message["reply_to"], offer))
    elif message["type"] == "media.answer":
        await pcs[who].setRemoteDescription(
            RTCSessionDescription(message["sdp"], "answer")
        )


# -- driver ---------------------------------------------------------------------


def _child(role: str, *args: Any) -> None:
    logging.basicConfig(level=os.environ.get("BENCH_LOG", "ERROR"))
    target = {"pub": _publisher, "relay": _relay, "subs": _subscribers}[role]
    asyncio.run(target(*args))


@dataclass
class Result:
    """One case's figures."""

    mode: str
    n: int
    relay_cpu: float
    relay_fps: float
    relay_fps_sum: float
    fps_min: float
    fps_mean: float
    corrupt: int
    p50: float | None
    p95: float | None
    late_ms: float | None
    late_connect_ms: float | None
    publisher_keyframes: int


def _latencies(window: list[Any], sent: list[tuple[int, int]]) -> list[float]:
    out = []
    for k, arrival in window:
        if k is None:
            continue
        times = [t for kk, t in sent if kk == k and t <= arrival]
        if times:
            out.append(float(arrival - max(times)))
    return out


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def run_case(mode: str, n: int) -> Result:
    """Publisher, relay and subscriber processes for one case."""
    ctx = mp.get_context("spawn")
    pub_peer, relay_pub = ctx.Pipe()
    subs_peer, relay_subs = ctx.Pipe()
    pub_parent, pub_child = ctx.Pipe()
    subs_parent, subs_child = ctx.Pipe()
    procs = [
        ctx.Process(target=_child, args=("pub", pub_peer, pub_child)),
        ctx.Process(target=_child, args=("relay", mode, relay_pub, relay_subs)),
        ctx.Process(target=_child, args=("subs", subs_peer, subs_child, n)),
    ]
    for proc in procs:
        proc.start()
    try:
        if not subs_parent.poll(90):
            raise RuntimeError(f"{mode} x{n}: no result")
        result = subs_parent.recv()
        pub_parent.send("stop")
        sent, keyframes = pub_parent.recv()
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    window = result["window"]
    lats = _latencies(window, sent)
    corrupt = result["decode_errors"] + sum(1 for k, _ in window if k is None)
    corrupt += result["late_bad"]
    return Result(
        mode,
        n,
        result["relay_cpu"]["cpu"],
        min(result["relay_cpu"]["relay_fps"] or [0.0]),
        sum(result["relay_cpu"]["relay_fps"]),
        min(result["fps"]),
        sum(result["fps"]) / len(result["fps"]),
        corrupt,
        _quantile(lats, 0.5),
        _quantile(lats, 0.95),
        result["late_ms"],
        result["late_connect_ms"],
        keyframes,
    )


def _fmt(value: float | None, width: int = 8) -> str:
    return f"{value:{width}.1f}" if value is not None else "-".rjust(width)


def main() -> None:
    """Run every case and print the table and the summary line."""
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f} 720p30 H.264")
    only = os.environ.get("BENCH_CASES")
    cases = [c for c in CASES if not only or f"{c[0]}{c[1]}" in only.split(",")]
    results = []
    failed = []
    for mode, n in cases:
        try:
            result = run_case(mode, n)
        except RuntimeError as exc:
            # A starved harness (busy machine) must not lose the other cases.
            print(f"  FAILED {mode} x{n}: {exc}", flush=True)
            failed.append(f"{mode}{n}")
            continue
        print(f"  done {mode} x{n}: {result.fps_min:.1f} fps min", flush=True)
        results.append(result)
    print()
    print(
        f"{'mode':<12}{'subs':>5}{'relayCPU':>9}{'ms/frm':>7}{'proj30':>7}"
        f"{'relFps':>7}{'subFps':>7}{'corrupt':>8}{'p50':>8}{'p95':>8}"
        f"{'late':>8}{'lateICE':>8}{'PLIs':>5}"
    )
    for r in results:
        print(
            f"{r.mode:<12}{r.n:5d}{r.relay_cpu:9.1f}{_ms_per_frame(r):7.2f}"
            f"{_projected(r):7.1f}{r.relay_fps:7.1f}{r.fps_min:7.1f}{r.corrupt:8d}"
            f"{_fmt(r.p50)}{_fmt(r.p95)}{_fmt(r.late_ms)}"
            f"{_fmt(r.late_connect_ms)}{r.publisher_keyframes:5d}"
        )
    print(
        "relayCPU: % of one core; ms/frm: relay CPU ms per frame it sent to one "
        "subscriber; proj30: relayCPU projected for every subscriber at 30 fps "
        "(ms/frm x subs x 30), the figure that survives a busy machine; relFps / "
        "subFps: slowest subscriber's fps as sent by the relay / as received; "
        "corrupt: decode errors or unreadable stamps (subscriber 0 and the late "
        "joiner); p50/p95: ms from publisher send to subscriber-0 decode; late: ms "
        "from subscribe to the late joiner's first good frame, lateICE of which "
        "connecting; PLIs: keyframes the publisher was asked for."
    )
    parts = []
    for r in results:
        key = f"{r.mode}{r.n}"
        parts += [
            f"{key}_cpu={r.relay_cpu:.1f}",
            f"{key}_proj30_cpu={_projected(r):.1f}",
            f"{key}_relay_fps_min={r.relay_fps:.1f}",
            f"{key}_sub_fps_min={r.fps_min:.1f}",
            f"{key}_corrupt={r.corrupt}",
            f"{key}_p50_ms={_fmt(r.p50).strip()}",
            f"{key}_late_ms={_fmt(r.late_ms).strip()}",
        ]
    by = {(r.mode, r.n): r for r in results}
    for n in (1, 4):
        if ("passthrough", n) in by and ("reencode", n) in by:
            ratio = _ms_per_frame(by[("passthrough", n)]) / max(
                _ms_per_frame(by[("reencode", n)]), 1e-6
            )
            parts.append(f"cost_per_frame_ratio_{n}={ratio:.3f}")
    parts += [f"{key}=timeout" for key in failed]
    parts.append(f"loadavg_1m={os.getloadavg()[0]:.1f}")
    print("bench: " + " ".join(parts))


def _ms_per_frame(r: Result) -> float:
    """Relay CPU ms per subscriber-frame sent (0 when nothing was sent)."""
    return 10 * r.relay_cpu / r.relay_fps_sum if r.relay_fps_sum else 0.0


def _projected(r: Result) -> float:
    """Relay CPU (% of a core) if every subscriber got 30 fps at this cost."""
    return _ms_per_frame(r) * r.n * 30 / 10


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
