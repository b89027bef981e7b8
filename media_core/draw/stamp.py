"""Blending coverage into the planes: compiled once, replayed cheaply per frame.

A ``Stamp`` turns a coverage mask and a colour into flat offsets of the pixels
it changes (fully covered ones are assigned, fringe ones blended), per plane.
Replaying it costs a few numpy gathers and scatters over the covered pixels
only, whatever the frame size. ``RectFill`` does rectangles with slice views.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from media_core.canvas import YuvCanvas
from media_core.draw.colour import Colour
from media_core.draw.raster import Coverage
from media_core.errors import BadFrame

logger = logging.getLogger(__name__)

# Coverage this close to either end snaps to it, which keeps the costly
# blended fringe (a gather, a table look-up and a scatter per pixel) small.
# From 1440 lines up a pixel is small enough to snap harder, unseen.
_SNAP = (8, 248)
_SNAP_HIGH_RES = (48, 208)


class Compiled(Protocol):
    """Something already rasterised for one canvas size that can paint itself."""

    def apply(self, canvas: YuvCanvas) -> None:
        """Paint onto ``canvas`` in place (same size as compiled for)."""

    def paint(self, flat: FlatCanvas) -> None:
        """Paint onto an already flattened canvas (``FlatCanvas.of``)."""


class _Memory:
    """Holds an ``__array_interface__`` (and the array it describes) so numpy
    can wrap the same memory with another shape; cheaper than ``as_strided``."""

    __slots__ = ("__array_interface__", "owner")

    def __init__(self, interface: dict, owner: np.ndarray):
        self.__array_interface__ = interface
        self.owner = owner


def flat_plane(plane: np.ndarray) -> tuple[np.ndarray, int]:
    """A 1-D writable view over a plane's rows (padding included) and its row stride."""
    flat, stride, _ = _flat_plane(plane)
    return flat, stride


_UINT8 = np.dtype(np.uint8)


def _check_plane(plane: np.ndarray) -> None:
    dtype = plane.dtype
    # ``is`` first: comparing a dtype with ``np.uint8`` converts it each time.
    uint8 = dtype is _UINT8 or dtype == _UINT8
    if not uint8 or plane.ndim != 2 or plane.strides[1] != 1:
        raise BadFrame("planes must be 2-D uint8 with contiguous rows")
    if not plane.flags.writeable:
        raise BadFrame("planes must be writable")


def _flat_plane(plane: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``flat_plane`` plus the plane's address modulo 16."""
    _check_plane(plane)
    rows, cols = plane.shape
    stride = int(plane.strides[0])
    length = (rows - 1) * stride + cols if rows and cols else 0
    address = plane.__array_interface__["data"][0]
    if plane.flags.c_contiguous:
        return plane.reshape(-1), stride, address % 16
    interface = {
        "data": (address, False),
        "shape": (length,),
        "typestr": "|u1",
        "version": 3,
    }
    return np.asarray(_Memory(interface, plane)), stride, address % 16


class FlatCanvas:
    """A canvas plus 1-D views of its planes, made once per frame for scatters.

    ``planes`` holds ``(flat view, row stride)`` per plane and ``misalign``
    each plane's address modulo 16, which says where aligned multi-byte
    blocks start. Both are worked out on first use: reading an address costs
    over a microsecond per plane, and the compiled kernel needs neither.
    """

    __slots__ = ("canvas", "_planes", "_misalign")

    def __init__(self, canvas: YuvCanvas):
        for plane in (canvas.y, canvas.u, canvas.v):
            _check_plane(plane)
        self.canvas = canvas
        self._planes: tuple[tuple[np.ndarray, int], ...] | None = None
        self._misalign: tuple[int, ...] = ()

    @property
    def planes(self) -> tuple[tuple[np.ndarray, int], ...]:
        return self._flatten()[0]

    @property
    def misalign(self) -> tuple[int, ...]:
        return self._flatten()[1]

    def _flatten(self) -> tuple[tuple[tuple[np.ndarray, int], ...], tuple[int, ...]]:
        if self._planes is None:
            canvas = self.canvas
            flat = [_flat_plane(p) for p in (canvas.y, canvas.u, canvas.v)]
            self._planes = tuple((f, stride) for f, stride, _ in flat)
            self._misalign = tuple(m for _, _, m in flat)
        return self._planes, self._misalign

    @classmethod
    def of(cls, canvas: YuvCanvas) -> FlatCanvas:
        """Flatten ``canvas``; raise ``BadFrame`` if its planes are not 8-bit rows."""
        return cls(canvas)


def check_size(canvas: YuvCanvas, width: int, height: int) -> None:
    """Raise ``BadFrame`` unless the canvas is ``width x height`` with 4:2:0 chroma."""
    chroma = ((height + 1) // 2, (width + 1) // 2)
    if (
        canvas.y.shape != (height, width)
        or canvas.u.shape != chroma
        or canvas.v.shape != chroma
    ):
        raise BadFrame(
            f"canvas is {canvas.width}x{canvas.height}, expected {width}x{height}"
        )


@functools.lru_cache(maxsize=256)
def blend_table(value: int) -> np.ndarray:
    """``table[w * 256 + under]`` = ``under`` blended towards ``value`` by w/255."""
    w = np.arange(256, dtype=np.int32)[:, None]
    under = np.arange(256, dtype=np.int32)[None, :]
    out = under + ((value - under) * w + 127) // 255
    table = out.astype(np.uint8).reshape(-1)
    table.setflags(write=False)
    return table


@dataclass(slots=True)
class PlanePixels:
    """Pixels of one plane a stamp touches: absolute rows/cols and 0..255 weights."""

    value: int
    full_rows: np.ndarray
    full_cols: np.ndarray
    part_rows: np.ndarray
    part_cols: np.ndarray
    part_keys: np.ndarray
    table: np.ndarray
    by_stride: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        weights: np.ndarray,
        row0: int,
        col0: int,
        value: int,
    ) -> PlanePixels:
        """Split 0..255 ``weights`` at box origin ``(row0, col0)`` into pixel lists."""
        full_r, full_c = np.nonzero(weights == 255)
        part_r, part_c = np.nonzero((weights > 0) & (weights < 255))
        return cls(
            value,
            (full_r + row0).astype(np.intp),
            (full_c + col0).astype(np.intp),
            (part_r + row0).astype(np.intp),
            (part_c + col0).astype(np.intp),
            # Row offsets into the blend table, so blending is one gather.
            weights[part_r, part_c].astype(np.intp) * 256,
            blend_table(value),
        )

    def paint(self, flat: np.ndarray, stride: int) -> None:
        """Assign and blend into a flat plane whose rows are ``stride`` apart."""
        offsets = self.by_stride.get(stride)
        if offsets is None:
            # Frames from one decoder keep one line size, so this runs once.
            offsets = (
                self.full_rows * stride + self.full_cols,
                self.part_rows * stride + self.part_cols,
            )
            self.by_stride[stride] = offsets
        full, part = offsets
        if full.size:
            flat[full] = self.value
        if part.size:
            flat[part] = self.table[self.part_keys + flat[part]]


class Stamp:
    """A coverage mask in one colour, compiled for a ``width x height`` canvas.

    Luma is blended with the mask's anti-aliased coverage; chroma samples take
    the colour (times its alpha) where the shape covers half their 2x2 block.
    """

    __slots__ = ("width", "height", "planes")

    def __init__(self, coverage: Coverage, colour: Colour, width: int, height: int):
        self.width, self.height = width, height
        mask = coverage.mask
        x0, y0 = coverage.x0, coverage.y0
        luma = mask[: height - y0, : width - x0].astype(np.uint32)
        # Chroma coverage is the mean over each 2x2 block: what 4:2:0 averages.
        h, w = mask.shape
        blocks = mask.reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3), dtype=np.uint32)
        # Chroma is not anti-aliased: a sample takes the colour when the shape
        # covers at least half its 2x2 block. Colour fringes at half resolution
        # are invisible, and blending them would double the per-frame work.
        chroma = np.where(blocks >= 2 * 255, np.uint32(255), np.uint32(0))
        # Snap the coverage (not the colour's alpha) near its ends.
        low, high = _SNAP_HIGH_RES if height >= 1440 else _SNAP
        luma = np.where(luma >= high, np.uint32(255), np.where(luma < low, 0, luma))
        scale = round(colour.alpha * 255)
        if scale < 255:
            luma = (luma * scale + 127) // 255
            chroma = (chroma * scale + 127) // 255
        self.planes = (
            PlanePixels.build(luma, y0, x0, colour.y),
            PlanePixels.build(chroma, y0 // 2, x0 // 2, colour.u),
            PlanePixels.build(chroma, y0 // 2, x0 // 2, colour.v),
        )

    def apply(self, canvas: YuvCanvas) -> None:
        """Blend into ``canvas``; raise ``BadFrame`` if its size differs."""
        self.paint(FlatCanvas.of(canvas))

    def paint(self, flat: FlatCanvas) -> None:
        """Blend into a flattened canvas; raise ``BadFrame`` if its size differs."""
        check_size(flat.canvas, self.width, self.height)
        for pixels, (plane, stride) in zip(self.planes, flat.planes, strict=True):
            pixels.paint(plane, stride)


def blend_scalar(roi: np.ndarray, value: int, weight: float) -> None:
    """Blend a constant ``value`` into ``roi`` in place with opacity ``weight``."""
    if roi.size == 0 or weight <= 0.0:
        return
    if weight >= 1.0:
        roi[...] = value
    else:
        # One SIMD pass: roi * (1 - w) + value * w, rounded and saturated.
        cv2.convertScaleAbs(roi, dst=roi, alpha=1.0 - weight, beta=value * weight)


class RectFill:
    """An axis-aligned filled rectangle compiled for a ``width x height`` canvas."""

    __slots__ = ("width", "height", "colour", "_luma", "_chroma")

    def __init__(
        self,
        x0: int,
        y0: int,
        x1: int,
        y1: int,
        colour: Colour,
        width: int,
        height: int,
    ):
        self.width, self.height, self.colour = width, height, colour
        self._luma = (x0, y0, x1, y1)
        xs = _chroma_spans(x0, x1, width)
        ys = _chroma_spans(y0, y1, height)
        # Up to 3x3 pieces: full chroma blocks inside, half/quarter at the rims.
        self._chroma = [
            (cy0, cy1, cx0, cx1, wy * wx) for cy0, cy1, wy in ys for cx0, cx1, wx in xs
        ]

    def paint(self, flat: FlatCanvas) -> None:
        """Fill or blend the rectangle on a flattened canvas."""
        self.apply(flat.canvas)

    def apply(self, canvas: YuvCanvas) -> None:
        """Fill or blend the rectangle; raise ``BadFrame`` if the size differs."""
        check_size(canvas, self.width, self.height)
        x0, y0, x1, y1 = self._luma
        alpha = self.colour.alpha
        blend_scalar(canvas.y[y0:y1, x0:x1], self.colour.y, alpha)
        for cy0, cy1, cx0, cx1, weight in self._chroma:
            blend_scalar(canvas.u[cy0:cy1, cx0:cx1], self.colour.u, weight * alpha)
            blend_scalar(canvas.v[cy0:cy1, cx0:cx1], self.colour.v, weight * alpha)


def _chroma_spans(lo: int, hi: int, size: int) -> list[tuple[int, int, float]]:
    """Chroma index spans covering luma ``[lo, hi)`` with their coverage fraction."""
    if lo >= hi:
        return []
    outer0, outer1 = lo // 2, (hi + 1) // 2
    inner0 = (lo + 1) // 2
    # At an odd canvas edge the last chroma sample's second pixel is virtual.
    inner1 = outer1 if hi == size else hi // 2
    spans = [(outer0, inner0, 0.5), (inner0, inner1, 1.0), (inner1, outer1, 0.5)]
    return [(a, b, w) for a, b, w in spans if a < b]
