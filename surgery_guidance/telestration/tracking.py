"""Keep tracked annotations on the anatomy they were drawn on.

Per tracked annotation, corners (``cv2.goodFeaturesToTrack``) are picked on a
downscaled copy of the **luma plane only** (at most ``max_width`` pixels wide,
640 by default) inside a region around the annotation, on the frame the mentor
drew on (``Annotation.frame_time``, looked up in a short history of recent
frames). That frame is the track's *key frame*.

Each new frame, the key-frame corners are registered directly against it with
pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``, started from the last
fit's prediction, on a crop around the region only), checked forward-backward,
and fitted with RANSAC (a similarity by default, ``estimateAffinePartial2D``;
optionally a homography). Registering against the key frame rather than
chaining frame to frame means the error does not accumulate; points the fit
rejects (the instrument passing over the tissue, glints) simply do not count
for that frame. When the view has changed so much that too few corners still
register (inlier ratio below ``rekey_ratio``) but the fit is still sound, the
current frame becomes the new key frame, composed with the old fit.

A frame whose fit fails (the instrument covering most of the region) does not
lose the mark at once: it *coasts*, carried along at the last measured
frame-to-frame motion, and is only marked ``LOST`` when fits have failed for
``lost_after_s``.

The result per annotation is a 3x3 homography from **normalised coordinates of
the drawing frame to normalised coordinates of the current frame** (see
``geometry``), so it holds whatever resolution either frame has, plus a
confidence (the RANSAC inlier ratio). Too few inliers, a large residual or an
implausible fit for ``lost_after_s`` mark the annotation ``LOST``; it
stays lost (the rasteriser fades it out), because drawing a mark on the wrong
anatomy is worse than not drawing it.

Pure and deterministic: no threads, no I/O, and the same frames give the same
output (OpenCV's RANSAC seeds its generator per call). Not re-entrant: one
compositor thread feeds one tracker.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np

from surgery_guidance.telestration.geometry import (
    apply_homography,
    norm_to_pixel_matrix,
    pixel_to_norm_matrix,
)
from surgery_guidance.telestration.schema import Annotation

logger = logging.getLogger(__name__)


class TrackStatus(StrEnum):
    """Where a tracked annotation stands."""

    PENDING = "pending"  # its drawing frame has not been seen yet
    TRACKING = "tracking"
    COASTING = "coasting"  # carried at the last velocity while the region is hidden
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tuning of ``AnnotationTracker``; pixel values are in the downscaled luma."""

    max_width: int = 640
    flatten_sigma: float = 6.0  # box blur ~4 sigma wide subtracted; 0 disables
    history_s: float = 2.0
    max_anchor_gap_s: float = 0.1
    catch_up_steps: int = 15  # frames registered while catching up to "now"
    region_margin: float = 0.1  # normalised, added around the annotation
    region_min: float = 0.5  # normalised minimum region width and height
    max_corners: int = 64
    quality: float = 0.001
    min_distance: float = 6.0
    block_size: int = 5
    win_size: int = 15
    levels: int = 2  # enough with the velocity prediction; 3 is safer if jerky
    fb_max_px: float = 0.5
    ransac_px: float = 1.5
    model: str = "similarity"  # or "homography"
    min_inliers: int = 12
    min_inlier_ratio: float = 0.12
    rekey_ratio: float = 0.6  # inlier ratio needed to trust a new key frame
    rekey_visible: float = 0.7  # re-key when fewer key corners are in view
    rekey_angle_deg: float = 8.0  # ... or the view turned this far
    rekey_scale: float = 1.12  # ... or zoomed this much
    max_residual_px: float = 1.5
    max_scale_change: float = 2.0
    lost_after_s: float = 0.5  # of failed fits in a row (an instrument passing)


@dataclass(frozen=True, slots=True)
class TrackResult:
    """The tracker's answer for one annotation after the latest frame.

    ``homography`` maps normalised coordinates of the drawing frame to
    normalised coordinates of the current frame (identity while pending).
    ``confidence`` is the inlier ratio 0..1 of the latest fit,
    ``residual_px`` the median inlier error in *full-resolution* luma pixels,
    ``lost_since`` the media time (s) tracking was lost, if it was.
    """

    status: TrackStatus
    homography: np.ndarray
    confidence: float
    inliers: int
    residual_px: float
    lost_since: float | None
    timestamp: float

    @property
    def lost(self) -> bool:
        """Whether the annotation is no longer held on its anatomy."""
        return self.status is TrackStatus.LOST


_IDENTITY = np.eye(3)
_IDENTITY.setflags(write=False)


@dataclass(frozen=True, slots=True)
class _Frame:
    """One downscaled luma frame in the history."""

    timestamp: float
    small: np.ndarray


@dataclass(slots=True)
class _Track:
    """Mutable per-annotation state; pixel arrays are downscaled-luma pixels."""

    key: tuple[object, ...]
    region: tuple[float, float, float, float]  # normalised, drawing frame
    status: TrackStatus = TrackStatus.PENDING
    anchor_size: tuple[int, int] = (0, 0)  # downscaled size of the drawing frame
    key_small: np.ndarray | None = None  # the key frame's downscaled luma
    key_pts: np.ndarray | None = None  # (N, 2) float32 corners in the key frame
    base: np.ndarray | None = None  # 3x3 drawing-frame px -> key-frame px
    fit: np.ndarray | None = None  # 3x3 key-frame px -> current px
    # 3x3 last frame px -> this frame px: predicts the next fit, and carries
    # the mark along while its region is hidden.
    velocity: np.ndarray = field(default_factory=lambda: np.eye(3))
    confidence: float = 0.0
    inliers: int = 0
    residual: float = 0.0
    failing_since: float | None = None
    lost_since: float | None = None


class AnnotationTracker:
    """Tracks every annotation with ``tracked=True`` through the frames it is fed.

    Call ``update(luma, timestamp, annotations)`` once per frame, in timestamp
    order, *before* anything is drawn onto that luma, then read ``result(id)``.
    ``luma`` is the full-resolution Y plane (uint8, any size); ``timestamp``
    is the frame's media time in seconds. A timestamp going backwards (a seek)
    restarts every track.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        if self.config.model not in ("similarity", "homography"):
            raise ValueError(f"unknown tracking model {self.config.model!r}")
        self._history: deque[_Frame] = deque()
        self._tracks: dict[str, _Track] = {}
        self._results: dict[str, TrackResult] = {}
        self._full_size: tuple[int, int] = (0, 0)
        self._criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03)

    # -- public ---------------------------------------------------------------

    def result(self, annotation_id: str) -> TrackResult | None:
        """The latest result for an annotation, or None if it is not tracked."""
        return self._results.get(annotation_id)

    @property
    def results(self) -> Mapping[str, TrackResult]:
        """Latest results keyed by annotation id (a read-only snapshot)."""
        return dict(self._results)

    def reset(self) -> None:
        """Forget every frame and track."""
        self._history.clear()
        self._tracks.clear()
        self._results.clear()

    def update(
        self, luma: np.ndarray, timestamp: float, annotations: Iterable[Annotation]
    ) -> None:
        """Feed one frame's luma plane and the current annotation set."""
        if luma.ndim != 2 or luma.dtype != np.uint8:
            raise ValueError("luma must be a 2-D uint8 plane")
        if not math.isfinite(timestamp):
            raise ValueError("timestamp must be finite")
        if self._history and timestamp <= self._history[-1].timestamp:
            if timestamp < self._history[-1].timestamp:
                logger.debug("timestamp went back to %s: restarting", timestamp)
                self.reset()
            else:
                return  # the same frame again: nothing new to learn
        height, width = luma.shape
        self._full_size = (width, height)
        frame = _Frame(timestamp, self._downscale(luma))
        if self._history and self._history[-1].small.shape != frame.small.shape:
            # A resolution change with another aspect: restart from this frame.
            self.reset()
        wanted = {a.id: a for a in annotations if a.tracked}
        for gone in set(self._tracks) - set(wanted):
            del self._tracks[gone]
        # Existing tracks register their key frame on this frame.
        for track in self._tracks.values():
            if track.status in (TrackStatus.TRACKING, TrackStatus.COASTING):
                self._step(track, frame)
        self._history.append(frame)
        while timestamp - self._history[0].timestamp > self.config.history_s:
            self._history.popleft()
        for annotation_id, annotation in wanted.items():
            key = (annotation.points, annotation.frame_time)
            track = self._tracks.get(annotation_id)
            if track is None or track.key != key:
                track = _Track(key, self._region(annotation))
                self._tracks[annotation_id] = track
            if track.status is TrackStatus.PENDING:
                self._anchor(track, annotation.frame_time)
        self._publish(timestamp)

    # -- frames ----------------------------------------------------------------

    def _downscale(self, luma: np.ndarray) -> np.ndarray:
        """Downscaled luma with its slow shading removed (see ``TrackerConfig``).

        Subtracting a heavy blur flattens vignetting and exposure changes,
        which otherwise bias Lucas-Kanade as tissue slides under a fixed
        light falloff; the texture the features live on is kept.
        """
        height, width = luma.shape
        if width <= self.config.max_width:
            # A copy: the history must not alias the decoder's frame memory.
            small = luma.copy()
        else:
            small_w = self.config.max_width
            small_h = max(2, round(height * small_w / width))
            small = cv2.resize(luma, (small_w, small_h), interpolation=cv2.INTER_AREA)
        if self.config.flatten_sigma <= 0:
            return small
        size = 2 * round(2 * self.config.flatten_sigma) + 1
        shade = cv2.blur(small, (size, size))
        # 128 + (small - shade), saturated: one pass over the small frame.
        return cv2.addWeighted(small, 1.0, shade, -1.0, 128.0)

    def _scale(self) -> float:
        """Full-resolution pixels per downscaled pixel."""
        if not self._history:
            return 1.0
        return self._full_size[0] / self._history[-1].small.shape[1]

    # -- anchoring ---------------------------------------------------------------

    def _region(self, annotation: Annotation) -> tuple[float, float, float, float]:
        xs = [p[0] for p in annotation.points]
        ys = [p[1] for p in annotation.points]
        if annotation.kind == "circle" and len(annotation.points) == 2:
            (cx, cy), (rx, ry) = annotation.points
            r = math.hypot(rx - cx, ry - cy)
            xs, ys = [cx - r, cx + r], [cy - r, cy + r]
        margin, least = self.config.region_margin, self.config.region_min
        box = []
        for lo, hi in ((min(xs), max(xs)), (min(ys), max(ys))):
            lo, hi = lo - margin, hi + margin
            if hi - lo < least:
                mid = (lo + hi) / 2
                lo, hi = mid - least / 2, mid + least / 2
            box.append((max(0.0, lo), min(1.0, hi)))
        return box[0][0], box[1][0], box[0][1], box[1][1]

    def _anchor(self, track: _Track, frame_time: float) -> None:
        newest = self._history[-1]
        if frame_time > newest.timestamp + self.config.max_anchor_gap_s:
            return  # drawn on a frame still to come (a replay): wait for it
        index = min(
            range(len(self._history)),
            key=lambda i: abs(self._history[i].timestamp - frame_time),
        )
        anchor = self._history[index]
        if abs(anchor.timestamp - frame_time) > self.config.max_anchor_gap_s:
            # The drawing frame is gone: placing the mark on a later frame
            # would put it on the wrong anatomy.
            self._lose(track, newest.timestamp, "drawing frame not in history")
            return
        height, width = anchor.small.shape
        points = self._corners(anchor.small, track.region, np.eye(3))
        if points.shape[0] < self.config.min_inliers:
            self._lose(track, newest.timestamp, "too little texture to track")
            return
        track.anchor_size = (width, height)
        track.key_small, track.key_pts = anchor.small, points
        track.base, track.fit = np.eye(3), np.eye(3)
        track.status = TrackStatus.TRACKING
        track.confidence, track.inliers = 1.0, points.shape[0]
        # Catch up with the frames shown since the mentor drew, a few of them
        # (registration is against the key frame, so skipping frames is fine
        # while the prediction stays within the pyramid's reach).
        later = list(self._history)[index + 1 :]
        steps = max(1, self.config.catch_up_steps)
        stride = max(1, math.ceil(len(later) / steps))
        for frame in later[stride - 1 :: stride] if later else []:
            self._step(track, frame)
            if track.status is TrackStatus.LOST:
                return
        if later and len(later) % stride:
            self._step(track, later[-1])
        if stride > 1:
            track.velocity = np.eye(3)  # it spanned several frames per step

    def _corners(
        self,
        small: np.ndarray,
        region: tuple[float, float, float, float],
        drawing_to_small: np.ndarray,
    ) -> np.ndarray:
        """Corners of ``small`` inside ``region`` (normalised, in the drawing frame).

        ``drawing_to_small`` maps drawing-frame pixels to ``small``'s pixels.
        """
        height, width = small.shape
        corners = np.array(
            [
                [region[0], region[1]],
                [region[2], region[1]],
                [region[2], region[3]],
                [region[0], region[3]],
            ]
        )
        pixels = apply_homography(norm_to_pixel_matrix(width, height), corners)
        pixels = apply_homography(drawing_to_small, pixels)
        if not np.isfinite(pixels).all():
            return np.zeros((0, 2), np.float32)
        mask = np.zeros((height, width), np.uint8)
        cv2.fillConvexPoly(mask, np.round(pixels).astype(np.int32), 255)
        found = cv2.goodFeaturesToTrack(
            small,
            maxCorners=self.config.max_corners,
            qualityLevel=self.config.quality,
            minDistance=self.config.min_distance,
            mask=mask,
            blockSize=self.config.block_size,
        )
        if found is None:
            return np.zeros((0, 2), np.float32)
        return found.reshape(-1, 2).astype(np.float32)

    def _flow(
        self, a: np.ndarray, b: np.ndarray, points: np.ndarray, guess: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        size = (self.config.win_size, self.config.win_size)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            a, b, points, guess.copy(), winSize=size, maxLevel=self.config.levels,
            criteria=self._criteria, flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
        )  # fmt: skip
        return moved.reshape(-1, 2), status.reshape(-1).astype(bool)

    def _crop(
        self, shape: tuple[int, ...], *clouds: np.ndarray
    ) -> tuple[int, int, int, int]:
        """An integer box around the point clouds, padded for the LK windows."""
        height, width = shape[:2]
        pad = self.config.win_size + 8
        both = np.vstack(clouds)
        x0 = max(0, int(np.floor(both[:, 0].min())) - pad)
        y0 = max(0, int(np.floor(both[:, 1].min())) - pad)
        x1 = min(width, int(np.ceil(both[:, 0].max())) + pad + 1)
        y1 = min(height, int(np.ceil(both[:, 1].max())) + pad + 1)
        return x0, y0, x1, y1

    def _step(self, track: _Track, frame: _Frame) -> None:
        """Register the key-frame corners on ``frame`` and refit (or lose) the track."""
        key, pts, fit = track.key_small, track.key_pts, track.fit
        if key is None or pts is None or fit is None:
            return  # not anchored yet
        config = self.config
        small = frame.small
        height, width = small.shape
        predicted = track.velocity @ fit
        guess = apply_homography(predicted, pts).astype(np.float32)
        sane = np.isfinite(guess).all(axis=1)
        if not sane.all():
            self._lose(track, frame.timestamp, "prediction left the plane")
            return
        x0, y0, x1, y1 = self._crop(small.shape, pts, guess)
        shift = np.array([x0, y0], np.float32)
        a, b = key[y0:y1, x0:x1], small[y0:y1, x0:x1]
        if a.shape != b.shape or a.size == 0:
            self._lose(track, frame.timestamp, "key frame and frame differ in size")
            return
        moved, ok = self._flow(a, b, pts - shift, guess - shift)
        back, ok_back = self._flow(b, a, moved, pts - shift)
        moved += shift
        back += shift
        good = (
            ok
            & ok_back
            & (np.hypot(*(back - pts).T) < config.fb_max_px)
            & (moved[:, 0] >= 0)
            & (moved[:, 1] >= 0)
            & (moved[:, 0] <= width - 1)
            & (moved[:, 1] <= height - 1)
        )
        ref, cur = pts[good], moved[good]
        new_fit, inliers = self._fit(ref, cur)
        n_in = int(inliers.sum())
        # Corners predicted out of view cannot register; they are not failures.
        in_view = (
            (guess[:, 0] >= 0)
            & (guess[:, 1] >= 0)
            & (guess[:, 0] <= width - 1)
            & (guess[:, 1] <= height - 1)
        )
        visible = int(in_view.sum())
        ratio = n_in / max(visible, 1)
        residual = 0.0
        if new_fit is not None and n_in:
            err = np.hypot(*(apply_homography(new_fit, ref[inliers]) - cur[inliers]).T)
            residual = float(np.median(err))
        track.confidence, track.inliers = ratio, n_in
        track.residual = residual * self._scale()
        why = self._implausible(new_fit, n_in, ratio, residual)
        if why is not None or new_fit is None:
            track.fit = predicted
            self._fail(track, frame.timestamp, why or "no fit")
            return
        track.status, track.failing_since = TrackStatus.TRACKING, None
        track.velocity = new_fit @ np.linalg.inv(fit)
        track.fit = new_fit
        # A key frame is kept while it registers well: re-keying while the
        # instrument covers the region would anchor the mark on the instrument.
        if ratio >= config.rekey_ratio and self._diverged(new_fit, visible, pts):
            self._rekey(track, frame)

    def _diverged(self, fit: np.ndarray, visible: int, pts: np.ndarray) -> bool:
        """Whether the view has moved far enough from the key frame to re-key."""
        config = self.config
        if visible < config.rekey_visible * pts.shape[0]:
            return True
        scale = math.sqrt(abs(np.linalg.det(fit[:2, :2])))
        angle = math.degrees(abs(math.atan2(fit[1, 0], fit[0, 0])))
        return angle > config.rekey_angle_deg or not (
            1 / config.rekey_scale <= scale <= config.rekey_scale
        )

    def _rekey(self, track: _Track, frame: _Frame) -> None:
        """Make ``frame`` the key frame: fresh corners, fit folded into ``base``."""
        if track.fit is None or track.base is None or track.key_pts is None:
            return
        drawing_to_now = track.fit @ track.base
        points = self._corners(frame.small, track.region, drawing_to_now)
        if points.shape[0] < max(
            2 * self.config.min_inliers, track.key_pts.shape[0] // 2
        ):
            return  # keep the old key frame while it still registers
        logger.debug("re-keyed a track at %.3f s", frame.timestamp)
        track.base = drawing_to_now
        track.fit = np.eye(3)
        track.key_small, track.key_pts = frame.small, points

    def _fit(
        self, ref: np.ndarray, cur: np.ndarray
    ) -> tuple[np.ndarray | None, np.ndarray]:
        none = np.zeros(ref.shape[0], bool)
        if ref.shape[0] < max(4, self.config.min_inliers):
            return None, none
        if self.config.model == "homography":
            matrix, mask = cv2.findHomography(
                ref, cur, cv2.RANSAC, self.config.ransac_px, maxIters=500
            )
            if matrix is None:
                return None, none
            return matrix, mask.reshape(-1).astype(bool)
        affine, mask = cv2.estimateAffinePartial2D(
            ref, cur, method=cv2.RANSAC, ransacReprojThreshold=self.config.ransac_px,
            maxIters=500, refineIters=10,
        )  # fmt: skip
        if affine is None:
            return None, none
        return np.vstack([affine, [0.0, 0.0, 1.0]]), mask.reshape(-1).astype(bool)

    def _implausible(
        self, fit: np.ndarray | None, inliers: int, ratio: float, residual: float
    ) -> str | None:
        config = self.config
        if fit is None or not np.isfinite(fit).all():
            return "no fit"
        if inliers < config.min_inliers:
            return f"{inliers} inliers"
        if ratio < config.min_inlier_ratio:
            return f"inlier ratio {ratio:.2f}"
        if residual > config.max_residual_px:
            return f"residual {residual:.2f} px"
        scale = math.sqrt(abs(np.linalg.det(fit[:2, :2])))
        if not 1 / config.max_scale_change <= scale <= config.max_scale_change:
            return f"scale {scale:.2f}"
        return None

    def _fail(self, track: _Track, timestamp: float, why: str) -> None:
        """Coast on the last good fit, or give up once failures last too long."""
        if track.failing_since is None:
            track.failing_since = timestamp
        if timestamp - track.failing_since >= self.config.lost_after_s:
            self._lose(track, timestamp, why)
        else:
            track.status = TrackStatus.COASTING

    def _lose(self, track: _Track, timestamp: float, why: str) -> None:
        if track.status is not TrackStatus.LOST:
            logger.debug("tracking lost at %.3f s: %s", timestamp, why)
            track.status = TrackStatus.LOST
            track.lost_since = timestamp

    # -- results -----------------------------------------------------------------

    def _publish(self, timestamp: float) -> None:
        current = self._history[-1].small.shape
        results: dict[str, TrackResult] = {}
        for annotation_id, track in self._tracks.items():
            homography = _IDENTITY
            if track.fit is not None and track.base is not None:
                homography = (
                    pixel_to_norm_matrix(current[1], current[0])
                    @ track.fit
                    @ track.base
                    @ norm_to_pixel_matrix(*track.anchor_size)
                )
                homography.setflags(write=False)
            results[annotation_id] = TrackResult(
                status=track.status,
                homography=homography,
                confidence=track.confidence,
                inliers=track.inliers,
                residual_px=track.residual,
                lost_since=track.lost_since,
                timestamp=timestamp,
            )
        self._results = results
