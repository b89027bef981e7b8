"""Text rasterised once into coverage masks and kept in an LRU cache.

Overlay strings repeat (numerics, labels), so each (string, size, outline)
is drawn with OpenCV's Hershey font a single time and reused.
"""

from __future__ import annotations

import functools
import logging

import cv2
import numpy as np

from media_core.draw.colour import Colour

logger = logging.getLogger(__name__)

FONT = cv2.FONT_HERSHEY_DUPLEX
# Cap height of "0" at font scale 1, used to turn pixel heights into scales.
_CAP_HEIGHT = cv2.getTextSize("0", FONT, 1.0, 1)[0][1]


def text_style(height: float) -> tuple[float, int]:
    """OpenCV font scale and stroke thickness for a cap height of ``height`` px."""
    return height / _CAP_HEIGHT, max(1, round(height / 12))


def text_size(string: str, height: float) -> tuple[int, int]:
    """Width and height in pixels of the mask ``text_masks`` makes (no outline)."""
    fill, _ = text_masks(string, max(1, round(height)), 0)
    return int(fill.shape[1]), int(fill.shape[0])


@functools.lru_cache(maxsize=1024)
def text_masks(string: str, height: int, outline: int) -> tuple[np.ndarray, np.ndarray]:
    """Coverage masks (fill, outline) of ``string`` with cap height ``height`` px.

    The top-left of the mask is the top-left of the text box, including an
    ``outline``-pixel margin. The outline mask is empty when ``outline`` is 0.
    The arrays are shared by the cache and so are read-only.
    """
    scale, thickness = text_style(height)
    (w, h), baseline = cv2.getTextSize(string, FONT, scale, thickness)
    pad = thickness + outline + 1
    fill = np.zeros((h + baseline + 2 * pad, w + 2 * pad), np.uint8)
    cv2.putText(fill, string, (pad, pad + h), FONT, scale, 255, thickness, cv2.LINE_AA)
    if outline > 0:
        size = 2 * outline + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        ring = cv2.dilate(fill, kernel)
    else:
        ring = np.zeros_like(fill)
    fill.setflags(write=False)
    ring.setflags(write=False)
    return fill, ring


@functools.lru_cache(maxsize=512)
def text_tile(
    string: str, height: int, colour: Colour, background: Colour
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read-only Y, U, V planes of ``string`` painted over a solid ``background``.

    For text on a known solid background (a panel), pasting the tile is
    exact and costs a plain copy. The tile has even dimensions; ``colour``'s
    alpha is ignored.
    """
    fill, _ = text_masks(string, height, 0)
    h, w = fill.shape
    mask = np.zeros((h + (h & 1), w + (w & 1)), np.uint8)
    mask[:h, :w] = fill
    blocks = mask.reshape(mask.shape[0] // 2, 2, mask.shape[1] // 2, 2)
    chroma = ((blocks.sum(axis=(1, 3), dtype=np.uint32) + 2) // 4).astype(np.uint8)
    levels = np.arange(256, dtype=np.float64) / 255.0
    planes = []
    for cov, fg, bg in (
        (mask, colour.y, background.y),
        (chroma, colour.u, background.u),
        (chroma, colour.v, background.v),
    ):
        lut = np.clip(np.floor(bg + (fg - bg) * levels + 0.5), 0, 255).astype(np.uint8)
        plane = lut[cov]
        plane.setflags(write=False)
        planes.append(plane)
    return planes[0], planes[1], planes[2]
