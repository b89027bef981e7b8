"""Compositor throughput and CPU at 1080p and 4K, x264 ultrafast vs medium.

Run: ``.venv/bin/python bench/compositor.py`` (about 1-2 minutes on 2 cores).
Input is pre-encoded endoscopy video (H.264), so each frame is decoded,
drawn (a vitals-like layer plus a latency stamp) and re-encoded, as on the
broadcast path. "Throughput" feeds as fast as the compositor takes frames;
"paced" feeds at 30 fps and reports drops and submit-to-packet latency.
CPU is process CPU time / wall time (100 % = one core).
The last line is machine-readable: ``bench: key=value ...``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media_core.canvas import YuvCanvas  # noqa: E402
from media_core.compositor import Compositor, EncoderSettings, open_encoder  # noqa: E402
from media_core.layers import Layer  # noqa: E402
from media_core.sources import EndoscopySource  # noqa: E402
from media_core.stamps import StampLayer  # noqa: E402

logger = logging.getLogger(__name__)


class PanelLayer:
    """Stand-in for the vitals overlay: translucent panels and a trace."""

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        """Blend four panels and a moving sine trace into the lower right."""
        h, w = canvas.height, canvas.width
        x0, pw, ph = w - w // 4, w // 5, h // 12
        for i in range(4):
            y0 = h - (i + 1) * h // 10
            panel = canvas.y[y0 : y0 + ph, x0 : x0 + pw]
            panel[:] = (panel.astype(np.uint16) + 16 * 3) // 4
            xs = np.arange(pw)
            ys = (ph / 2 + ph / 3 * np.sin(xs / 20 + timestamp * 6 + i)).astype(int)
            panel[ys, xs] = 235


def make_layers() -> tuple[list[Layer], str]:
    """The real VitalsLayer when it exists, else the stand-in panels."""
    try:
        from media_core.vitals import VitalsSimulator
        from media_core.vitals.layer import VitalsLayer  # type: ignore[import-not-found]

        vitals: Layer = VitalsLayer(VitalsSimulator())
        name = "VitalsLayer"
    except ImportError as exc:
        logger.info("VitalsLayer unavailable (%s), using stand-in panels", exc)
        vitals, name = PanelLayer(), "stand-in panels (VitalsLayer not available)"
    return [vitals, StampLayer()], name


def pre_encode(width: int, height: int, bitrate: int, count: int) -> list[bytes]:
    """``count`` frames of endoscopy video as H.264 Annex-B packet payloads."""
    source = EndoscopySource(width, height, 30)
    encoder = open_encoder(EncoderSettings(bitrate=bitrate), width, height)
    packets: list[av.Packet] = []
    for i in range(count):
        packets += encoder.encode(source.frame(i))
    packets += encoder.encode(None)
    return [bytes(p) for p in packets]


@dataclass
class Result:
    """One run's figures."""

    label: str
    fps: float
    cpu_pct: float
    drops: int
    stages: dict[str, float | None] = field(default_factory=dict)
    latency_p50_ms: float | None = None


async def run(
    label: str,
    payloads: list[bytes],
    settings: EncoderSettings,
    seconds: float,
    paced: bool,
) -> Result:
    """Feed ``payloads`` in a loop for ``seconds`` and measure the compositor."""
    layers, _ = make_layers()
    compositor = Compositor(
        layers,
        settings=settings,
        decoder="h264",
        input_size=8,
        drop_backlog=2 if paced else 1000,
        name=label,
    )
    compositor.start()
    submitted: dict[int, float] = {}
    latencies: list[float] = []

    async def consume() -> None:
        async for packet in compositor:
            sent = submitted.pop(packet.pts, None)
            if sent is not None:
                latencies.append((time.perf_counter() - sent) * 1000)

    consumer = asyncio.create_task(consume())
    # Warm-up: the first frames open the encoder.
    wall0, cpu0 = time.perf_counter(), time.process_time()
    encoded0, warmed, warm = 0, False, 0.5
    i = 0
    start = time.perf_counter()
    while True:
        now = time.perf_counter()
        if now - start > warm and not warmed:
            encoded0, warmed = compositor.stats["frames_encoded"], True
            wall0, cpu0 = now, time.process_time()
        if now - start > warm + seconds:
            break
        if paced:
            due = start + i / 30
            if due > now:
                await asyncio.sleep(due - now)
        else:
            # Polling keeps the compositor API free of a bench-only event.
            while compositor.pending >= 2:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
        packet = av.Packet(payloads[i % len(payloads)])
        packet.pts = i * 3000
        packet.time_base = Fraction(1, 90000)
        submitted[packet.pts] = time.perf_counter()
        compositor.submit_packet(packet)
        i += 1
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    encoded = compositor.stats["frames_encoded"] - encoded0
    await compositor.stop()
    await consumer
    stages = {
        s: compositor.metrics.stage(s).quantile(0.5)
        for s in ("decode", "draw", "encode")
    }
    latencies.sort()
    return Result(
        label,
        encoded / wall,
        100 * cpu / wall,
        compositor.stats["frames_dropped"],
        stages,
        latencies[len(latencies) // 2] if latencies else None,
    )


def fmt(value: float | None) -> str:
    """Right-aligned number or a dash."""
    return f"{value:8.1f}" if value is not None else "       -"


async def main() -> None:
    """Run every case and print the table and the summary line."""
    layers, layer_name = make_layers()
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cpus={os.cpu_count()} loadavg={load} layers={layer_name} + StampLayer")
    t = time.perf_counter()
    hd = pre_encode(1920, 1080, 6_000_000, 60)
    uhd = pre_encode(3840, 2160, 16_000_000, 45)
    print(f"pre-encoded input in {time.perf_counter() - t:.1f}s", flush=True)
    fast_hd = EncoderSettings(bitrate=6_000_000, preset="ultrafast")
    fast_uhd = EncoderSettings(bitrate=16_000_000, preset="ultrafast")
    # aiortc's effective x264 settings: preset medium, zerolatency, baseline.
    stock_hd = EncoderSettings(bitrate=6_000_000, preset="medium")
    stock_uhd = EncoderSettings(bitrate=16_000_000, preset="medium")
    cases = [
        ("comp_1080p", hd, fast_hd, 8.0, False),
        ("comp_1080p_paced30", hd, fast_hd, 8.0, True),
        ("comp_4k", uhd, fast_uhd, 8.0, False),
        ("baseline_1080p", hd, stock_hd, 6.0, False),
        ("baseline_4k", uhd, stock_uhd, 6.0, False),
    ]
    results = []
    for label, payloads, settings, seconds, paced in cases:
        result = await run(label, payloads, settings, seconds, paced)
        results.append(result)
        print(f"  done {label}: {result.fps:.1f} fps", flush=True)
    print()
    print(
        f"{'case':<20}{'preset':>10}{'fps':>8}{'cpu %':>8}{'drops':>7}"
        f"{'dec p50':>9}{'draw p50':>9}{'enc p50':>9}{'lat p50':>9}"
    )
    for (_, _, settings, _, _), r in zip(cases, results, strict=True):
        print(
            f"{r.label:<20}{settings.preset:>10}{r.fps:8.1f}{r.cpu_pct:8.1f}"
            f"{r.drops:7d}{fmt(r.stages['decode'])}{fmt(r.stages['draw'])}"
            f"{fmt(r.stages['encode'])}{fmt(r.latency_p50_ms)}"
        )
    print("(stage and latency columns are ms; latency = submit to encoded packet)")
    by = {r.label: r for r in results}
    paced = by["comp_1080p_paced30"]
    parts = [
        f"comp_1080p_fps={by['comp_1080p'].fps:.1f}",
        f"comp_1080p_cpu_pct={by['comp_1080p'].cpu_pct:.0f}",
        f"comp_1080p_paced30_fps={by['comp_1080p_paced30'].fps:.1f}",
        f"comp_1080p_paced30_cpu_pct={by['comp_1080p_paced30'].cpu_pct:.0f}",
        f"comp_1080p_paced30_drops={by['comp_1080p_paced30'].drops}",
        f"comp_1080p_paced30_lat_p50_ms={fmt(paced.latency_p50_ms).strip()}",
        f"comp_4k_fps={by['comp_4k'].fps:.1f}",
        f"comp_4k_cpu_pct={by['comp_4k'].cpu_pct:.0f}",
        f"baseline_1080p_fps={by['baseline_1080p'].fps:.1f}",
        f"baseline_1080p_cpu_pct={by['baseline_1080p'].cpu_pct:.0f}",
        f"baseline_4k_fps={by['baseline_4k'].fps:.1f}",
        f"baseline_4k_cpu_pct={by['baseline_4k'].cpu_pct:.0f}",
    ]
    # Other processes skew every figure on a small VM: say how busy it was.
    parts.append(f"loadavg_1m={os.getloadavg()[0]:.1f}")
    print("bench: " + " ".join(parts))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())
