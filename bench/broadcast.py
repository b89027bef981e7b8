"""Broadcast: the composite feed (decode once, overlays, encode once) to N viewers.

Run: ``.venv/bin/python bench/broadcast.py`` (about 2 minutes on 2 cores).
Processes per case, talking over UDP on this host:

* publisher: a 1080p30 H.264 6 Mbps loop of 240 pre-encoded endoscopy frames
  (no encode cost; 8 s, longer than any latency measured), each frame's stamp
  holding its loop index; it logs when it sent each index.
* worker (measured): ``composite`` runs ``media_core.worker.MediaWorker``
  with a composite of the publisher's track (the vitals panel in the STEMI
  scenario and ten annotations, two tracked) published as
  ``composite:bench`` and written to live HLS; viewers subscribe to it
  through the passthrough relay. ``reencode`` is the baseline: aiortc decodes
  the track, the same layers are drawn per frame, and
  ``aiortc.contrib.media.MediaRelay`` feeds one aiortc encoder per viewer
  (``MediaFixes`` x264 settings, the latest frame only so memory stays flat).
* viewers: viewer 0 in a process of its own decodes and reads the stamp
  (latency = decoded - sent); the others count tapped frames, up to 10 per
  process, at niceness 10 (receiving 20 x 6 Mbps in Python costs more than
  sending it, and the harness shares the worker's 2 cores). ``sentFps`` (what
  the worker sent to its slowest viewer) is the server's figure; ``viewMin``
  also depends on the starved harness.

HLS latency: the driver polls the playlist every 20 ms and keeps each segment
as it appears; a frame's latency is the time its segment appeared in the
playlist minus the time the publisher sent it. ``MediaFixes()`` is applied in
every process. CPU is process CPU time / wall time (100 % = one core); loop
stall is the worker loop's overshoot of a 10 ms sleep. Developer knobs:
``BENCH_CASES`` (e.g. ``composite20``), ``BENCH_MEASURE_S``, ``BENCH_PROFILE``
(cProfile of the worker's loop to that path) and ``BENCH_WORKER_SEND=stock``
(the worker with aiortc's own RTP send path and REMB pace). Target: 1080p at 30 fps
to >= 20 WebRTC viewers within the worker's 2 cores. The last line is
machine-readable: ``bench: ...``.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402
from _broadcast_peers import (  # noqa: E402
    ROOM,
    annotation_set,
    encode_loop,
    load_loop,
    publisher,
    viewers,
)
from _broadcast_worker import (  # noqa: E402
    BaselineRelay,
    PipeTransport,
    loop_stalls,
    viewer_groups,
)
from _fanout_peers import _config, _cpu, _pipe_reader  # noqa: E402

from media_core.aiortc_fixes import MediaFixes  # noqa: E402
from media_core.canvas import YuvCanvas  # noqa: E402
from media_core.stamps import read_stamp  # noqa: E402

logger = logging.getLogger(__name__)

CASES = [("composite", n) for n in (1, 10, 20)] + [("reencode", n) for n in (1, 2)]
WARMUP_S = 2.0
MEASURE_S = float(os.environ.get("BENCH_MEASURE_S", "6"))
#: After "stop", HLS polling goes on this long for the window's last segments.
HLS_TAIL_S = 3.0
VIEWER_NICENESS = 10


# -- worker process ---------------------------------------------------------------


async def _worker(
    mode: str, pub: Connection, views: list[Connection], ctl: Connection, out: str
) -> None:
    if os.environ.get("BENCH_WORKER_SEND") == "stock":
        # For an A/B run: the worker with aiortc's own send path and REMB pace.
        MediaFixes(fast_rtp_send=False, remb_interval=None).apply()
    else:
        MediaFixes().apply()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    for name, conn in [("pub", pub), ("ctl", ctl)] + [("view", v) for v in views]:

        def put(item: Any, name: str = name) -> None:
            loop.call_soon_threadsafe(inbox.put_nowait, (name, item))

        threading.Thread(target=_pipe_reader, args=(conn, put), daemon=True).start()
    transport = PipeTransport(pub, views)
    if mode == "composite":
        from media_core.worker import MediaWorker
        from surgery_guidance.telestration.live import LiveAnnotationLayer

        worker = MediaWorker(
            "bench",
            transport,
            rtc_configuration=_config(),
            output_root=Path(out),
            layer_factories={"annotations": LiveAnnotationLayer.from_spec},
        )
        runner = asyncio.ensure_future(worker.run())
        relay: BaselineRelay | None = None
    else:
        worker, relay = None, BaselineRelay(transport, annotation_set())
    stalls: list[float] = []
    ticker = asyncio.ensure_future(loop_stalls(stalls))
    marks: dict[str, Any] = {}
    while True:
        source, item = await inbox.get()
        if source == "pub" and relay is not None:
            await relay.publish(item)
            ctl.send(("ready", "baseline"))
        elif source == "pub":
            transport.inbox.put_nowait(
                {"type": "media.offer", "pc": "pub", "sdp": item, "room": ROOM}
                | {"participant": "pub", "reply_to": "pub"}
            )
            ctl.send(("ready", await _start_composite(worker, transport)))
        elif source == "view" and relay is not None:
            await relay.handle(item)
        elif source == "view":
            transport.inbox.put_nowait(item)
        elif item == "measure":
            stalls.clear()
            marks = {"cpu": _cpu(), "wall": time.monotonic(), **_counts(worker, relay)}
        elif item == "stop":
            elapsed = time.monotonic() - marks["wall"]
            now = _counts(worker, relay)
            sent = [
                (now["sent"].get(k, 0) - v) / elapsed for k, v in marks["sent"].items()
            ]
            ordered = sorted(stalls) or [0.0]
            ctl.send(
                {
                    "cpu": 100 * (_cpu() - marks["cpu"]) / elapsed,
                    "fps": (now["encoded"] - marks["encoded"]) / elapsed,
                    "sent_fps": sent,
                    "dropped": now["dropped"] - marks["dropped"],
                    "stall_p99": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
                    "stall_max": ordered[-1] * 1000,
                }
            )
        elif item == "exit":
            break
    ticker.cancel()
    if relay is not None:
        await relay.close()
    else:
        await worker.close()
        runner.cancel()


async def _start_composite(worker: Any, transport: PipeTransport) -> str:
    """Wait for the publisher's track, start the composite, draw the annotations."""
    while not (room := worker._rooms.get(ROOM)) or not room.tracks:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    source = next(iter(room.tracks))
    control = {"room": ROOM, "participant": "ctl", "reply_to": "ctl"}
    layers = [{"kind": "annotations"}, {"kind": "vitals", "scenario": "stemi"}]
    transport.inbox.put_nowait(
        {"type": "media.composite.start", "source": source, "name": "bench"}
        | {"layers": layers, "hls": True}
        | control
    )
    started = await transport.local.get()
    assert started["type"] == "media.composite.started", started
    transport.inbox.put_nowait(
        {"type": "media.layer", "composite": "bench", "kind": "annotations"}
        | {"data": annotation_set()}
        | control
    )
    return str(started["track"])


def _counts(worker: Any, relay: BaselineRelay | None) -> dict[str, Any]:
    """Frames encoded and sent per viewer so far, in the worker process."""
    if relay is not None:
        encoded = sum(relay.sent.values())  # one encoder per viewer
        return {"encoded": encoded, "sent": dict(relay.sent), "dropped": 0}
    stats = worker.composite_stats().get("bench") or {}
    compositor = stats.get("compositor") or {}
    room = worker._rooms.get(ROOM)
    track = room.tracks.get("composite:bench") if room else None
    sent = (
        {s.name: s.counters.forwarded for s in track.relay.subscribers} if track else {}
    )
    dropped = compositor.get("frames_dropped", 0) + compositor.get(
        "packets_dropped_in", 0
    )
    return {
        "encoded": compositor.get("frames_encoded", 0),
        "sent": sent,
        "dropped": dropped,
    }


# -- driver ---------------------------------------------------------------------


def _child(role: str, *args: Any) -> None:
    logging.basicConfig(level=os.environ.get("BENCH_LOG", "ERROR"))
    if role == "pub":
        conn, ctl, loop_file = args
        asyncio.run(publisher(conn, ctl, load_loop(loop_file)))
    elif role == "worker":
        profile = os.environ.get("BENCH_PROFILE")
        if not profile:
            asyncio.run(_worker(*args))
            return
        # BENCH_PROFILE=path: the worker's event loop under cProfile (its own
        # thread only; pair with py-spy for the compositor's threads).
        import cProfile

        cProfile.runctx("asyncio.run(_worker(*args))", globals(), locals(), profile)
    else:
        conn, ctl, names, decode = args
        if not decode:
            # Twenty receiving peers cost more CPU than the worker sending to
            # them: the measured processes go first, the counters get the rest.
            os.nice(VIEWER_NICENESS)
        asyncio.run(viewers(conn, ctl, names, decode))


class HlsWatcher(threading.Thread):
    """Polls the playlist; hard-links each new segment and notes when it appeared."""

    def __init__(self, directory: Path, keep: Path) -> None:
        super().__init__(daemon=True)
        self.directory, self.keep = directory, keep
        self.appeared: dict[str, int] = {}
        self.running = True

    def run(self) -> None:
        """Poll every 20 ms until stopped."""
        playlist = self.directory / "index.m3u8"
        while self.running:
            try:
                names = [n for n in playlist.read_text().split() if n.endswith(".ts")]
            except FileNotFoundError:
                names = []
            now = int(time.time() * 1000)
            for name in names:
                if name not in self.appeared:
                    self.appeared[name] = now
                    try:
                        os.link(self.directory / name, self.keep / name)
                    except FileNotFoundError:
                        del self.appeared[name]
            time.sleep(0.02)


@dataclass
class Result:
    """One case's figures."""

    mode: str
    n: int
    cpu: float
    fps: float
    sent_fps_min: float
    view_fps_min: float
    view_fps_mean: float
    p50: float | None
    p95: float | None
    hls_p50: float | None
    hls_p95: float | None
    corrupt: int
    dropped: int
    stall_p99: float
    stall_max: float


def _latency(
    samples: list[tuple[int | None, int]], sent: list[tuple[int, int]]
) -> list[float]:
    by_k: dict[int, list[int]] = {}
    for k, at in sent:
        by_k.setdefault(k, []).append(at)
    out = []
    for k, arrival in samples:
        times = [t for t in by_k.get(k, []) if t <= arrival] if k is not None else []
        if times:
            out.append(float(arrival - max(times)))
    return out


def _hls_latency(
    watcher: HlsWatcher, sent: list[tuple[int, int]], window: tuple[int, int]
) -> list[float]:
    """Per frame sent inside ``window`` (wall ms): segment appearance - send."""
    out: list[float] = []
    for name, appeared in watcher.appeared.items():
        try:
            with av.open(str(watcher.keep / name)) as container:
                stamps = [
                    read_stamp(YuvCanvas.from_frame(f.reformat(format="yuv420p")))
                    for f in container.decode(video=0)
                ]
        except (av.FFmpegError, OSError):
            continue
        lats = _latency([(k, appeared) for k in stamps], sent)
        out += [lat for lat in lats if window[0] <= appeared - lat <= window[1]]
    return out


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def run_case(mode: str, n: int, loop_file: Path, tmp: Path) -> Result:
    """Publisher, worker and viewer processes for one case."""
    ctx = mp.get_context("spawn")
    out = tmp / f"{mode}{n}"
    keep = out / "kept"
    keep.mkdir(parents=True)
    groups = viewer_groups(n)
    pub_peer, worker_pub = ctx.Pipe()
    view_pipes = [ctx.Pipe() for _ in groups]
    pub_ctl, pub_child = ctx.Pipe()
    worker_ctl, worker_child = ctx.Pipe()
    view_ctls = [ctx.Pipe() for _ in groups]
    procs = [
        ctx.Process(target=_child, args=("pub", pub_peer, pub_child, str(loop_file))),
        ctx.Process(
            target=_child,
            args=(
                "worker",
                mode,
                worker_pub,
                [w for _, w in view_pipes],
                worker_child,
                str(out),
            ),
        ),
    ]
    for i, group in enumerate(groups):
        args = ("view", view_pipes[i][0], view_ctls[i][1], group, i == 0)
        procs.append(ctx.Process(target=_child, args=args))
    for proc in procs:
        proc.start()
    watcher = HlsWatcher(out / "hls" / "bench", keep)
    try:
        if not worker_ctl.poll(60):
            raise RuntimeError("worker never ready")
        _, track = worker_ctl.recv()
        for parent, _ in view_ctls:
            parent.send(track)
        for parent, _ in view_ctls:
            if not parent.poll(40):
                raise RuntimeError("viewers never watching")
            parent.recv()
        time.sleep(WARMUP_S)
        since = int(time.time() * 1000)
        if mode == "composite":
            watcher.start()
        for conn in [worker_ctl] + [p for p, _ in view_ctls]:
            conn.send("measure")
        time.sleep(MEASURE_S)
        for conn in [worker_ctl] + [p for p, _ in view_ctls]:
            conn.send("stop")
        worker = worker_ctl.recv()
        views = [p.recv() for p, _ in view_ctls]
        until = int(time.time() * 1000)
        time.sleep(HLS_TAIL_S if mode == "composite" else 0)
        watcher.running = False
        pub_ctl.send("stop")
        sent, _ = pub_ctl.recv()
        for conn in [worker_ctl] + [p for p, _ in view_ctls]:
            conn.send("exit")
    finally:
        for proc in procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()
    fps = [f for v in views for f in v["fps"]]
    lats = _latency(views[0]["samples"], sent)
    hls = _hls_latency(watcher, sent, (since, until)) if mode == "composite" else []
    corrupt = views[0]["decode_errors"] + sum(
        1 for k, _ in views[0]["samples"] if k is None
    )
    return Result(
        mode,
        n,
        worker["cpu"],
        worker["fps"],
        min(worker["sent_fps"] or [0.0]),
        min(fps),
        sum(fps) / len(fps),
        _quantile(lats, 0.5),
        _quantile(lats, 0.95),
        _quantile(hls, 0.5),
        _quantile(hls, 0.95),
        corrupt,
        worker["dropped"],
        worker["stall_p99"],
        worker["stall_max"],
    )


def _projected(r: Result) -> float:
    """Worker CPU (% of a core) if every viewer got 30 fps at this cost per frame."""
    return r.cpu * 30 / r.sent_fps_min if r.sent_fps_min else 0.0


def _fmt(value: float | None, width: int = 8) -> str:
    return f"{value:{width}.1f}" if value is not None else "-".rjust(width)


def main() -> None:
    """Run every case and print the table and the summary line."""
    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f} 1080p30 H.264")
    only = os.environ.get("BENCH_CASES")
    cases = [c for c in CASES if not only or f"{c[0]}{c[1]}" in only.split(",")]
    results, failed = [], []
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as name:
        tmp = Path(name)
        loop_file = tmp / "loop.pickle"
        encode_loop(loop_file)
        for mode, n in cases:
            try:
                result = run_case(mode, n, loop_file, tmp)
            except (RuntimeError, EOFError, IndexError) as exc:
                # A starved harness (busy machine) must not lose the other cases.
                print(f"  FAILED {mode} x{n}: {exc!r}", flush=True)
                failed.append(f"{mode}{n}")
                continue
            print(f"  done {mode} x{n}: {result.view_fps_min:.1f} fps min", flush=True)
            results.append(result)
    _report(results, failed)


def _report(results: list[Result], failed: list[str]) -> None:
    print()
    print(
        f"{'mode':<11}{'N':>3}{'wCPU':>7}{'proj30':>7}{'encFps':>7}{'sentFps':>8}"
        f"{'viewMin':>8}"
        f"{'viewAvg':>8}{'p50':>7}{'p95':>7}{'hlsP50':>8}{'hlsP95':>8}{'bad':>5}"
        f"{'drop':>5}{'stall99':>8}{'stallMx':>8}"
    )
    for r in results:
        print(
            f"{r.mode:<11}{r.n:3d}{r.cpu:7.1f}{_projected(r):7.1f}{r.fps:7.1f}"
            f"{r.sent_fps_min:8.1f}"
            f"{r.view_fps_min:8.1f}{r.view_fps_mean:8.1f}{_fmt(r.p50, 7)}"
            f"{_fmt(r.p95, 7)}{_fmt(r.hls_p50)}{_fmt(r.hls_p95)}{r.corrupt:5d}"
            f"{r.dropped:5d}{r.stall_p99:8.1f}{r.stall_max:8.1f}"
        )
    print(
        "wCPU: worker process, % of one core; proj30: wCPU scaled to every viewer "
        "at 30 fps (wCPU x 30 / slowest sent fps), the figure that survives a busy "
        "machine; encFps: frames encoded per second "
        "(composite: once for all viewers; reencode: summed over the per-viewer "
        "encoders); sentFps: slowest viewer as sent by the worker; viewMin/Avg: "
        "as received; p50/p95: ms from publisher send to viewer-0 decode; "
        "hlsP50/P95: ms from publisher send to the segment holding the frame "
        "appearing in the playlist; bad: decode errors or unreadable stamps at "
        "viewer 0; drop: frames the compositor dropped; stall: worker loop "
        "overshoot of a 10 ms sleep, ms."
    )
    parts = []
    for r in results:
        key = f"{r.mode}{r.n}"
        parts += [
            f"{key}_cpu={r.cpu:.1f}",
            f"{key}_proj30_cpu={_projected(r):.1f}",
            f"{key}_enc_fps={r.fps:.1f}",
            f"{key}_view_fps_min={r.view_fps_min:.1f}",
            f"{key}_p50_ms={_fmt(r.p50).strip()}",
            f"{key}_p95_ms={_fmt(r.p95).strip()}",
        ]
        if r.mode == "composite":
            parts += [
                f"{key}_hls_p50_ms={_fmt(r.hls_p50).strip()}",
                f"{key}_hls_p95_ms={_fmt(r.hls_p95).strip()}",
            ]
        parts.append(f"{key}_bad={r.corrupt}")
    parts += [f"{key}=timeout" for key in failed]
    parts.append(f"loadavg_1m={os.getloadavg()[0]:.1f}")
    print("bench: " + " ".join(parts))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
