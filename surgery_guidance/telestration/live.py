"""The mentor's annotations on a live composite feed: ``LiveAnnotationLayer``.

The web tier owns the annotation set (operations, persistence) and sends the
whole current set to the media worker whenever it changes
(``media.layer {"kind": "annotations", "data": {"annotations": [...],
"version": n}}``); this layer validates it, moves it onto the compositor's
clock and draws it with ``AnnotationLayer`` (plus ``AnnotationTracker`` for
annotations with ``tracked=True``).

Clocks. An annotation's ``frame_time`` is media time on the *browser's* clock,
meaningless here. What ties it to a picture is ``capture_ms``: the latency
stamp of the frame the mentor drew on. Every frame's stamp is read as it
passes (about 0.1 ms at 1080p) into a ``CaptureClock``, a short history of
capture ms -> compositor timestamp, and each new annotation's ``frame_time``
becomes the compositor timestamp of the frame with that stamp (the nearest,
moved by the difference). Without ``capture_ms`` it becomes the compositor
time when the annotation arrived. An annotation that comes back unchanged in
a later set keeps its re-based time, so its fade does not restart. The
tracker then anchors on that very frame, which it finds in its history.

Tracking costs CPU per tracked frame (a few ms at 1080p, ~20 ms with many
marks), so frames go to the tracker at ``tracking_fps`` (15 by default), and
the tracker's history covers ``tracking_history_s`` so that a stroke that
took a while to draw still finds its frame.

Pure and synchronous: no asyncio, aiortc or Django. ``draw`` runs on the
compositor thread; ``update`` and ``timeline_event`` on others; state is
swapped under a lock.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from media_core.broadcast.stamping import CaptureClock
from media_core.canvas import YuvCanvas
from media_core.layers import TimelineEvent
from media_core.stamps import read_stamp
from surgery_guidance.telestration.rasterise import AnnotationLayer, Tracker
from surgery_guidance.telestration.schema import (
    MAX_ANNOTATIONS,
    Annotation,
    AnnotationError,
    AnnotationState,
)
from surgery_guidance.telestration.tracking import (
    AnnotationTracker,
    TrackerConfig,
    TrackResult,
)

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_FPS = 15.0
DEFAULT_HISTORY_S = 4.0
_SPEC_FIELDS = frozenset({"kind", "tracking", "tracking_fps", "tracking_history_s"})
_DATA_FIELDS = frozenset({"annotations", "version"})


class ThrottledTracker:
    """Feeds an ``AnnotationTracker`` at most ``fps`` frames per media second.

    Implements the rasteriser's ``Tracker``. Frames arriving sooner than
    three quarters of the interval after the last one fed are skipped, which
    halves 30 fps input at 15 fps despite jittery timestamps. Every fed frame
    also enters the tracker's history, so new annotations find their drawing
    frame even when nothing is tracked yet.
    """

    def __init__(self, tracker: AnnotationTracker, fps: float) -> None:
        self.tracker = tracker
        self._interval = 1.0 / fps
        self._last: float | None = None
        self.fed = 0

    def update(
        self, luma: np.ndarray, timestamp: float, annotations: Iterable[Annotation]
    ) -> None:
        """Pass the frame on if it is due."""
        last = self._last
        if last is not None and last <= timestamp < last + 0.75 * self._interval:
            return
        self._last = timestamp
        self.fed += 1
        self.tracker.update(luma, timestamp, annotations)

    def result(self, annotation_id: str) -> TrackResult | None:
        """The tracker's latest result for an annotation."""
        return self.tracker.result(annotation_id)


class LiveAnnotationLayer:
    """Draws the mentor's current annotation set on the composite (see module doc).

    Implements ``media_core.layers`` ``Layer``, ``UpdatableLayer`` and
    ``TimelineLayer``. Put it first (bottom) among the composite's layers:
    the stamp and the tracker must see the picture before anything is drawn.
    """

    def __init__(
        self,
        *,
        tracking: bool = True,
        tracking_fps: float = DEFAULT_TRACKING_FPS,
        tracking_history_s: float = DEFAULT_HISTORY_S,
    ) -> None:
        self.clock = CaptureClock()
        self.tracker: ThrottledTracker | None = None
        if tracking:
            config = TrackerConfig(history_s=tracking_history_s)
            self.tracker = ThrottledTracker(AnnotationTracker(config), tracking_fps)
        tracker: Tracker | None = self.tracker
        self._layer = AnnotationLayer(tracker=tracker)
        self._lock = threading.Lock()
        self._version: int | None = None
        self._generation = 0
        # id -> (the annotation as sent, the same re-based onto our clock)
        self._rebased: dict[str, tuple[Annotation, Annotation]] = {}
        self._drawn: tuple[AnnotationState, float] | None = None
        self._reported = 0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> LiveAnnotationLayer:
        """Build from ``{"kind": "annotations", "tracking"?: bool,
        "tracking_fps"?: 1..30, "tracking_history_s"?: 0.5..10}``.

        Raises ``ValueError`` for unknown fields or values out of range.
        """
        unknown = sorted(set(spec) - _SPEC_FIELDS)
        if unknown:
            raise ValueError(f"unknown annotation layer field(s): {', '.join(unknown)}")
        tracking = spec.get("tracking", True)
        if not isinstance(tracking, bool):
            raise ValueError("tracking must be true or false")
        fps = _number(spec.get("tracking_fps", DEFAULT_TRACKING_FPS), 1, 30)
        history = _number(spec.get("tracking_history_s", DEFAULT_HISTORY_S), 0.5, 10)
        return cls(tracking=tracking, tracking_fps=fps, tracking_history_s=history)

    @property
    def state(self) -> AnnotationState:
        """The set drawn from the next frame on (frame times re-based)."""
        return self._layer.state

    @property
    def version(self) -> int | None:
        """The web tier's version of the current set (``None`` before any)."""
        return self._version

    # -- compositor thread -------------------------------------------------------

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        """Note the frame's stamp, track, then paint the visible annotations."""
        self.clock.record(timestamp, read_stamp(canvas))
        state = self._layer.state
        self._layer.draw(canvas, timestamp)
        with self._lock:
            if self._drawn is None or self._drawn[0] is not state:
                self._drawn = (state, timestamp)

    # -- web tier ----------------------------------------------------------------

    def update(self, data: Mapping[str, Any]) -> None:
        """Replace the set with ``{"annotations": [...], "version": n}``.

        A version not newer than the current one is ignored (a late or
        repeated message). Raises ``AnnotationError`` (a ``ValueError``) if
        the message or any annotation is malformed; nothing changes then.
        """
        annotations, version = _parse(data)
        with self._lock:
            if self._version is not None and version <= self._version:
                logger.debug(
                    "annotation set %s ignored (have %s)", version, self._version
                )
                return
            now = self.clock.latest()
            rebased: dict[str, tuple[Annotation, Annotation]] = {}
            for annotation in annotations:
                previous = self._rebased.get(annotation.id)
                if previous is not None and previous[0] == annotation:
                    rebased[annotation.id] = previous
                else:
                    moved = replace(
                        annotation, frame_time=self._rebase(annotation, now)
                    )
                    rebased[annotation.id] = (annotation, moved)
            self._rebased = rebased
            self._version = version
            self._generation += 1
            state = AnnotationState(
                annotations={key: pair[1] for key, pair in rebased.items()},
                version=self._generation,
            )
        self._layer.set_state(state)

    def _rebase(self, annotation: Annotation, now: float | None) -> float:
        """The compositor timestamp of the frame ``annotation`` was drawn on."""
        if annotation.capture_ms is not None:
            mapped = self.clock.timestamp_of(annotation.capture_ms)
            if mapped is not None:
                return mapped
        return max(0.0, now) if now is not None else 0.0

    # -- recording ---------------------------------------------------------------

    def timeline_event(self, timestamp: float, origin: float) -> TimelineEvent | None:
        """The set, once per change, at the media time it first showed.

        Each annotation's ``frame_time`` is given in seconds from the
        recording's start (``origin``), like the event's ``t``.
        """
        with self._lock:
            drawn = self._drawn
        if drawn is None:
            return None
        state, shown_at = drawn
        if state.version == self._reported:
            return None
        self._reported = state.version
        items = []
        for annotation in state.annotations.values():
            item = annotation.to_dict()
            item["frame_time"] = round(max(0.0, annotation.frame_time - origin), 3)
            items.append(item)
        body = {"version": self._version, "annotations": items}
        return TimelineEvent(shown_at, "annotations", body)


def _number(value: object, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number in {lo}..{hi}")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"expected a number in {lo}..{hi}")
    return float(value)


def _parse(data: object) -> tuple[list[Annotation], int]:
    """Validate a whole set message; ``AnnotationError`` on the first fault."""
    if not isinstance(data, Mapping):
        raise AnnotationError("not_an_object", "annotation data must be an object")
    unknown = sorted(set(data) - _DATA_FIELDS)
    if unknown:
        raise AnnotationError(
            "unknown_field", f"unknown field(s): {', '.join(unknown)}"
        )
    if "annotations" not in data or "version" not in data:
        raise AnnotationError("missing_field", "annotations and version are required")
    version, items = data["version"], data["annotations"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise AnnotationError("bad_type", "version must be a non-negative integer")
    if not isinstance(items, list):
        raise AnnotationError("bad_type", "annotations must be a list")
    if len(items) > MAX_ANNOTATIONS:
        raise AnnotationError(
            "too_many_annotations", f"at most {MAX_ANNOTATIONS} at once"
        )
    annotations = [Annotation.from_dict(item) for item in items]
    if len({a.id for a in annotations}) != len(annotations):
        raise AnnotationError("duplicate_annotation", "an id appears twice")
    return annotations, version
