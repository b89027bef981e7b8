"""An endoscopy-like scene with exactly known camera motion.

A procedural tissue texture (pink/red mucosa, folds, vessels) larger than the
frame is rendered once as Y/U/V planes. Each frame is an affine warp of those
planes for a camera pose that is a closed-form function of time, plus a metallic
instrument and vignetting. Because the pose is known exactly, a tracker's error
can be measured against ``motion(t0, t1)``.

Pixel coordinates in this module have (0, 0) at the centre of the top-left luma
pixel, x to the right and y down (OpenCV's convention).
"""

from __future__ import annotations

import logging
import math

import av
import cv2
import numpy as np

from media_core.sources.base import bgr_to_planes, canvas_of, check_format, new_frame

logger = logging.getLogger(__name__)

# Camera drift: amplitudes as fractions of the frame size, angular rates in rad/s.
_DRIFT_X, _DRIFT_Y = 0.10, 0.08
_RATE_X, _RATE_Y = 0.37, 0.29
_MAX_ROT = math.radians(6.0)
_RATE_ROT = 0.21


def _smooth_noise(
    rng: np.random.Generator, h: int, w: int, cells: int, octaves: int
) -> np.ndarray:
    """Fractal value noise in [0, 1], built from upscaled random grids."""
    out = np.zeros((h, w), np.float32)
    total = 0.0
    for octave in range(octaves):
        n = cells * 2**octave
        grid = rng.random((max(2, n * h // w), n)).astype(np.float32)
        out += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / 2**octave
        total += 1 / 2**octave
    out /= total
    return np.clip(out, 0.0, 1.0)


def _tissue_bgr(rng: np.random.Generator, h: int, w: int, frame_h: int) -> np.ndarray:
    """Render mucosa with folds and vessels as a BGR image (done once)."""
    base = _smooth_noise(rng, h, w, 6, 5)
    folds = _smooth_noise(rng, h, w, 3, 2)
    shade = 0.55 + 0.45 * base - 0.35 * np.clip((folds - 0.55) * 4, 0, 1)
    bgr = np.empty((h, w, 3), np.float32)
    bgr[..., 0] = 70 * shade + 15
    bgr[..., 1] = 80 * shade + 20
    bgr[..., 2] = 200 * shade + 40
    vessels = np.zeros((h, w), np.uint8)
    count = max(8, int(40 * (h * w) / (frame_h * frame_h * 3)))
    step = max(4, frame_h // 60)
    for _ in range(count):
        pts = [rng.uniform((0, 0), (w, h))]
        heading = rng.uniform(0, 2 * math.pi)
        for _ in range(int(rng.integers(20, 80))):
            heading += rng.normal(0, 0.35)
            pts.append(
                pts[-1] + step * np.array([math.cos(heading), math.sin(heading)])
            )
        thickness = max(1, int(rng.integers(1, 4) * frame_h / 720))
        poly = np.array(pts, np.int32).reshape(-1, 1, 2)
        cv2.polylines(vessels, [poly], False, 255, thickness, cv2.LINE_AA)
    blur = max(1, frame_h // 540) * 2 + 1
    mask = (
        cv2.GaussianBlur(vessels, (blur, blur), 0).astype(np.float32)[..., None] / 255
    )
    bgr = bgr * (1 - 0.6 * mask) + np.array([40, 25, 110], np.float32) * 0.6 * mask
    grain = rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    return np.clip(bgr + grain, 0, 255).astype(np.uint8)


def _instrument_sprite(length: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied luma and alpha (uint8) of a shaft lying along +x, tip at x=0."""
    across = (np.arange(width, dtype=np.float32) + 0.5) / width * 2 - 1
    # Cylinder shading plus a specular stripe: reads as polished steel.
    luma = 70 + 120 * np.sqrt(np.clip(1 - across**2, 0, 1))
    luma += 90 * np.exp(-(((across + 0.35) / 0.12) ** 2))
    luma = np.clip(luma, 16, 235)
    alpha = np.clip((1 - np.abs(across)) * width / 2, 0, 1)
    sprite_y = np.repeat(luma[:, None], length, axis=1)
    sprite_a = np.repeat(alpha[:, None], length, axis=1)
    jaw = min(length, int(width * 1.6))
    sprite_y[:, :jaw] *= 0.75  # darker grasper jaws at the tip
    sprite_a[:, :jaw] *= np.clip(np.linspace(0.3, 1, jaw) * 2, 0, 1)[None, :]
    premult = (sprite_y * sprite_a).astype(np.uint8)
    return premult, (sprite_a * 255).astype(np.uint8)


class EndoscopySource:
    """Synthetic endoscopy video: drifting tissue, a moving instrument, vignetting.

    The texture is pre-rendered once at construction (about a second at 4K);
    each frame is a warp of it plus two small blends, with no colour conversion.
    """

    def __init__(
        self, width: int = 1280, height: int = 720, fps: float = 30.0, seed: int = 7
    ) -> None:
        check_format(width, height, fps)
        self.width, self.height, self.fps = width, height, float(fps)
        rng = np.random.default_rng(seed)
        half_w = (width / 2) * math.cos(_MAX_ROT) + (height / 2) * math.sin(_MAX_ROT)
        half_h = (width / 2) * math.sin(_MAX_ROT) + (height / 2) * math.cos(_MAX_ROT)
        margin = 8
        tex_w = 2 * int(half_w + _DRIFT_X * width + margin)
        tex_h = 2 * int(half_h + _DRIFT_Y * height + margin)
        self._tex = bgr_to_planes(_tissue_bgr(rng, tex_h, tex_w, height))
        self._tex_centre = ((tex_w - 1) / 2, (tex_h - 1) / 2)
        self._inv_gain_y, self._gain_y = self._vignette(width, height)
        self._inv_gain_c, self._gain_c = self._vignette(width // 2, height // 2)
        # Chroma pulled toward neutral in the dark corners: 128 * (1 - gain).
        self._grey_c = (128 * (255 - self._gain_c.astype(np.uint16)) // 255).astype(
            np.uint8
        )
        self._shaft_w = max(6, int(0.07 * height))
        length = int(math.hypot(width, height)) + self._shaft_w
        self._sprite_y, self._sprite_a = _instrument_sprite(length, self._shaft_w)
        self._sprite_a_half = cv2.resize(
            self._sprite_a, (length // 2, self._shaft_w // 2), cv2.INTER_AREA
        )

    @staticmethod
    def _vignette(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.hypot((xx - (w - 1) / 2) / (w / 2), (yy - (h - 1) / 2) / (h / 2))
        gain = np.clip(1 - 0.55 * (r / math.sqrt(2)) ** 2.2, 0.2, 1)
        g = (gain * 255).astype(np.uint8)
        return 255 - g, g

    # -- exact camera motion -------------------------------------------------

    def camera_pose(self, t: float) -> tuple[float, float, float]:
        """Camera centre in texture pixels and rotation (radians) at time ``t`` (s)."""
        cx = self._tex_centre[0] + _DRIFT_X * self.width * math.sin(_RATE_X * t)
        cy = self._tex_centre[1] + _DRIFT_Y * self.height * math.sin(_RATE_Y * t + 1.0)
        return cx, cy, _MAX_ROT * math.sin(_RATE_ROT * t)

    def frame_to_texture(self, t: float) -> np.ndarray:
        """3x3 affine homography: frame luma pixel -> texture pixel at time ``t``."""
        cx, cy, theta = self.camera_pose(t)
        c, s = math.cos(theta), math.sin(theta)
        fx, fy = (self.width - 1) / 2, (self.height - 1) / 2
        return np.array(
            [
                [c, -s, cx - c * fx + s * fy],
                [s, c, cy - s * fx - c * fy],
                [0.0, 0.0, 1.0],
            ]
        )

    def true_offset(self, t: float) -> tuple[float, float, float]:
        """Camera translation (texture px, x and y) and rotation (rad) since ``t=0``."""
        x0, y0, r0 = self.camera_pose(0.0)
        x1, y1, r1 = self.camera_pose(t)
        return x1 - x0, y1 - y0, r1 - r0

    def motion(self, t0: float, t1: float) -> np.ndarray:
        """3x3 homography taking a tissue point's frame pixel at ``t0`` to ``t1``."""
        return np.linalg.inv(self.frame_to_texture(t1)) @ self.frame_to_texture(t0)

    def instrument_tip(self, t: float) -> tuple[float, float]:
        """Frame pixel position of the instrument tip at time ``t``."""
        x = self.width * (0.5 + 0.18 * math.sin(0.9 * t))
        y = self.height * (0.5 + 0.15 * math.sin(1.3 * t + 0.5))
        return x, y

    # -- rendering -------------------------------------------------------------

    def frame(self, index: int) -> av.VideoFrame:
        """Frame ``index`` as ``yuv420p`` with pts in 1/90000."""
        t = index / self.fps
        frame = new_frame(self.width, self.height, index, self.fps)
        canvas = canvas_of(frame)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        luma_map = self.frame_to_texture(t)
        cv2.warpAffine(
            self._tex[0], luma_map[:2], (self.width, self.height), canvas.y, flags
        )
        # Chroma sample q sits at luma 2q + 0.5 in both frame and texture.
        to_luma = np.array([[2, 0, 0.5], [0, 2, 0.5], [0, 0, 1.0]])
        chroma_map = np.linalg.inv(to_luma) @ luma_map @ to_luma
        size_c = (self.width // 2, self.height // 2)
        cv2.warpAffine(self._tex[1], chroma_map[:2], size_c, canvas.u, flags)
        cv2.warpAffine(self._tex[2], chroma_map[:2], size_c, canvas.v, flags)
        self._draw_instrument(canvas.y, canvas.u, canvas.v, t)
        cv2.multiply(canvas.y, self._gain_y, canvas.y, 1 / 255)
        for plane in (canvas.u, canvas.v):
            cv2.multiply(plane, self._gain_c, plane, 1 / 255)
            cv2.add(plane, self._grey_c, plane)
        return frame

    def _draw_instrument(
        self, y: np.ndarray, u: np.ndarray, v: np.ndarray, t: float
    ) -> None:
        tip_x, tip_y = self.instrument_tip(t)
        # The shaft enters from the lower right and sways a little.
        angle = math.radians(35 + 6 * math.sin(0.7 * t))
        dx, dy = math.cos(angle), math.sin(angle)
        half = self._shaft_w / 2
        # Sprite (sx along shaft, sy across) -> frame: tip + sx*d + (sy-half)*n.
        m = np.array(
            [[dx, -dy, tip_x + dy * half], [dy, dx, tip_y - dx * half]], np.float64
        )
        length = self._sprite_y.shape[1]
        corners = np.array([[0, 0, 1], [length, 0, 1], [0, 2 * half, 1]])
        corners = np.vstack([corners, [length, 2 * half, 1]]) @ m.T
        x0 = max(0, int(corners[:, 0].min()) & ~1)
        y0 = max(0, int(corners[:, 1].min()) & ~1)
        x1 = min(self.width, (int(corners[:, 0].max()) + 2) & ~1)
        y1 = min(self.height, (int(corners[:, 1].max()) + 2) & ~1)
        if x1 <= x0 or y1 <= y0:
            return
        roi = m.copy()
        roi[:, 2] -= (x0, y0)
        size = (x1 - x0, y1 - y0)
        premult = cv2.warpAffine(self._sprite_y, roi, size, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(self._sprite_a, roi, size, flags=cv2.INTER_LINEAR)
        patch = y[y0:y1, x0:x1]
        cv2.multiply(patch, cv2.bitwise_not(alpha), patch, 1 / 255)
        cv2.add(patch, premult, patch)
        # Steel is nearly neutral: pull chroma toward a faint blue-grey.
        roi_c = roi.copy()
        roi_c[:, 2] = (roi[:, 2] - 0.5) / 2
        size_c = (size[0] // 2, size[1] // 2)
        alpha_c = cv2.warpAffine(self._sprite_a_half, roi_c, size_c)
        inv_c = cv2.bitwise_not(alpha_c)
        for plane, level in ((u, 134), (v, 124)):
            patch_c = plane[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]
            cv2.multiply(patch_c, inv_c, patch_c, 1 / 255)
            cv2.add(patch_c, cv2.multiply(alpha_c, level / 255), patch_c)
