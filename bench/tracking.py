"""Annotation tracking error and cost on the synthetic endoscopy scene.

Run: ``.venv/bin/python bench/tracking.py`` (about a minute on 2 cores).

Five target marks are drawn on the first frame of ~10 s of endoscopy video at
720p and 1080p (camera drifting up to 10 % of the frame and turning up to
6 degrees, an instrument sweeping over the tissue) and tracked with
``AnnotationTracker``. Each frame the tracked position of every mark still
drawn (tracking or coasting) is compared with the ground truth: the source's
exact ``motion(t0, t)`` applied to the drawn point. The baseline, in the same
run, is not tracking at all: the mark stays where it was drawn.

Errors are in full-resolution luma pixels. Time per frame is the wall time of
``AnnotationTracker.update`` for all five marks (frame rendering excluded);
CPU is process CPU time over the same call; OpenCV runs single-threaded here.
The load average is printed because a shared machine inflates wall times.
The last line is machine-readable and reports 1080p.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media_core.canvas import YuvCanvas  # noqa: E402
from media_core.sources import EndoscopySource  # noqa: E402
from surgery_guidance.telestration.geometry import (  # noqa: E402
    apply_homography,
    norm_to_pixels,
)
from surgery_guidance.telestration.schema import Annotation  # noqa: E402
from surgery_guidance.telestration.tracking import (  # noqa: E402
    AnnotationTracker,
    TrackStatus,
)

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
FPS = 30.0
SECONDS = 10.0
# Spread over the picture, including one the instrument sweeps across.
SPOTS = [(0.3, 0.3), (0.7, 0.35), (0.25, 0.7), (0.75, 0.7), (0.5, 0.5)]


def marks() -> list[Annotation]:
    """Tracked target marks drawn at t = 0."""
    return [
        Annotation.from_dict(
            {
                "id": str(uuid.UUID(int=i + 1)),
                "kind": "target",
                "author": "bench",
                "colour": "#ffff00",
                "points": [list(spot)],
                "frame_time": 0.0,
                "created_at_ms": 0,
                "tracked": True,
            }
        )
        for i, spot in enumerate(SPOTS)
    ]


def run(width: int, height: int) -> dict[str, float]:
    """Track the marks over SECONDS of video; errors, states and timings."""
    source = EndoscopySource(width, height, FPS)
    annotations = marks()
    tracker = AnnotationTracker()
    errors: list[float] = []
    baseline: list[float] = []
    wall: list[float] = []
    cpu: list[float] = []
    drawn_frames = lost = coasting = 0
    lost_at: dict[str, float] = {}
    frames = int(SECONDS * FPS)
    for index in range(frames):
        t = index / FPS
        luma = YuvCanvas.from_frame(source.frame(index)).y
        w0, c0 = time.perf_counter(), time.process_time()
        tracker.update(luma, t, annotations)
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        motion = source.motion(0.0, t)
        for mark in annotations:
            drawn = norm_to_pixels([mark.points[0]], width, height)
            truth = apply_homography(motion, drawn)
            baseline.append(float(np.hypot(*(drawn - truth)[0])))
            result = tracker.result(mark.id)
            if result is None or result.status is TrackStatus.LOST:
                lost += 1
                if result is not None and result.lost_since is not None:
                    lost_at.setdefault(mark.id, result.lost_since)
                continue
            coasting += result.status is TrackStatus.COASTING
            drawn_frames += 1
            moved = apply_homography(result.homography, [mark.points[0]])
            estimate = norm_to_pixels(moved, width, height)
            errors.append(float(np.hypot(*(estimate - truth)[0])))
    err, base = np.array(errors), np.array(baseline)
    wall_ms, cpu_ms = np.array(wall[1:]), np.array(cpu[1:])
    return {
        "frames": frames,
        "marks": len(annotations),
        "drawn_pct": 100.0 * drawn_frames / (frames * len(annotations)),
        "coasting_pct": 100.0 * coasting / (frames * len(annotations)),
        "lost_marks": len(lost_at),
        "err_mean": float(err.mean()) if err.size else float("nan"),
        "err_p50": float(np.median(err)) if err.size else float("nan"),
        "err_p95": float(np.percentile(err, 95)) if err.size else float("nan"),
        "err_max": float(err.max()) if err.size else float("nan"),
        "base_mean": float(base.mean()),
        "base_p95": float(np.percentile(base, 95)),
        "ms_p50": float(np.median(wall_ms)),
        "ms_p95": float(np.percentile(wall_ms, 95)),
        "cpu_ms_p50": float(np.median(cpu_ms)),
        "first_ms": wall[0],
    }


def main() -> None:
    """Run both sizes and print a table and the machine-readable line."""
    # The tracker works on small crops where OpenCV's thread pool only adds
    # spinning; one thread gives the honest per-frame cost of one feed.
    cv2.setNumThreads(1)
    print(__doc__.splitlines()[0])
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
    results = {name: run(*size) for name, size in SIZES.items()}
    print(
        f"{'size':>6} {'marks':>5} {'frames':>6} {'drawn%':>7} {'coast%':>6} "
        f"{'lost':>4} | {'err mean':>8} {'p50':>6} {'p95':>6} {'max':>6} | "
        f"{'no-track mean':>13} {'p95':>7} | {'ms p50':>7} {'p95':>7} "
        f"{'cpu p50':>7} {'anchor':>7}"
    )
    for name, r in results.items():
        print(
            f"{name:>6} {r['marks']:>5} {r['frames']:>6} {r['drawn_pct']:>7.1f} "
            f"{r['coasting_pct']:>6.1f} {r['lost_marks']:>4} | "
            f"{r['err_mean']:>8.2f} {r['err_p50']:>6.2f} {r['err_p95']:>6.2f} "
            f"{r['err_max']:>6.2f} | {r['base_mean']:>13.1f} {r['base_p95']:>7.1f} | "
            f"{r['ms_p50']:>7.2f} {r['ms_p95']:>7.2f} {r['cpu_ms_p50']:>7.2f} "
            f"{r['first_ms']:>7.1f}"
        )
    print("errors in full-resolution px over frames where a mark is drawn;")
    print("ms = tracker.update for all marks per frame (anchor = first frame)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    r = results["1080p"]
    print(
        f"bench: tracking_err_mean_px={r['err_mean']:.2f} "
        f"tracking_err_p95_px={r['err_p95']:.2f} "
        f"tracking_ms_p50={r['ms_p50']:.2f} "
        f"baseline_err_mean_px={r['base_mean']:.1f} "
        f"tracking_cpu_ms_p50={r['cpu_ms_p50']:.2f} "
        f"tracking_drawn_pct={r['drawn_pct']:.1f} "
        f"tracking_lost_marks={r['lost_marks']} "
        f"tracking_720p_err_mean_px={results['720p']['err_mean']:.2f} "
        f"tracking_720p_ms_p50={results['720p']['ms_p50']:.2f}"
    )


if __name__ == "__main__":
    main()
