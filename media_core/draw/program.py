"""Many compiled shapes flattened into a few block writes per frame.

Replaying stamps one by one costs a dozen numpy calls each, and numpy's
fancy indexing costs a few nanoseconds per element, whether the element is
one byte or sixteen. So a ``Program`` simulates once per canvas size what
painting a run of consecutive stamps in order does to each pixel, and keeps
per plane only the outcome:

* pixels that end up a known value (something opaque was painted, perhaps
  with fringes blended on top later) are written as aligned 16, 8, 4, 2 and
  1-byte blocks (the widest aligned block holding only such pixels), so a
  stroke crossing a row costs two or three element writes, not a dozen;
* pixels whose value still depends on what was under them (anti-aliased
  fringes, translucent fills) go through one 256-entry table per distinct
  sequence of blends: a gather, a table look-up and a scatter.

The simulation applies the stamps' own integer blend tables in order, so the
result is exactly that of painting the stamps one by one. Other pieces (such
as rectangles, which paint with slice views) keep their place in the order.

With the compiled kernel (``native``) the same outcome is replayed as runs of
consecutive known bytes (one short copy each) and a blend loop, in one call
per plane instead of a dozen numpy operations. The block writes above are the
fallback where the kernel is not built.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from media_core.canvas import YuvCanvas
from media_core.draw import native
from media_core.draw.shapes import Group
from media_core.draw.stamp import (
    Compiled,
    FlatCanvas,
    PlanePixels,
    Stamp,
    blend_table,
    check_size,
)

logger = logging.getLogger(__name__)

# Block widths, widest first, with the numpy type that writes each at once.
_BLOCKS = ((16, np.dtype("V16")), (8, np.dtype(np.uint64)), (4, np.dtype(np.uint32)))
_BLOCKS += ((2, np.dtype(np.uint16)), (1, np.dtype(np.uint8)))
_WIDEST = 16
_IDENTITY = np.arange(256, dtype=np.uint8)


@dataclass(slots=True)
class _Outcome:
    """What a run of stamps leaves on one plane, by row-major pixel key."""

    width: int
    known_keys: np.ndarray
    known_values: np.ndarray
    blend_keys: np.ndarray
    blend_rows: np.ndarray
    table: np.ndarray
    compiled: dict[tuple[int, int, int], _PlaneOps] = field(default_factory=dict)

    def ops(self, stride: int, misalign: int, size: int) -> _PlaneOps:
        """The writes for a flat plane of ``size`` bytes, ``stride`` bytes per
        row, whose first pixel sits ``misalign`` bytes past a 16-byte boundary."""
        ops = self.compiled.get((stride, misalign, size))
        if ops is None:
            # Frames from one decoder keep one layout, so this runs once.
            ops = _PlaneOps.build(self, stride, misalign, size)
            self.compiled[(stride, misalign, size)] = ops
        return ops


@dataclass(slots=True)
class _PlaneOps:
    """One plane's writes as flat offsets: blocks of known bytes, then blends.

    Each block entry is ``(start, stop, dtype, where, values)``: the byte
    range of the flat plane viewed as ``dtype`` and the writes into that view.
    """

    blocks: tuple[tuple[int, int, np.dtype, np.ndarray, np.ndarray], ...]
    blend_at: np.ndarray
    blend_keys: np.ndarray
    table: np.ndarray

    @classmethod
    def build(
        cls, outcome: _Outcome, stride: int, misalign: int, size: int
    ) -> _PlaneOps:
        width = outcome.width
        keys, values, blend = (
            outcome.known_keys,
            outcome.known_values,
            outcome.blend_keys,
        )
        offsets = keys // width * stride + keys % width
        # Position of each byte relative to a 16-byte boundary of memory.
        where = offsets + misalign
        block_of = np.ones(offsets.size, np.int64)
        for k, _ in _BLOCKS[-2::-1]:
            # An aligned k-block is usable when all its k bytes are known; a
            # byte goes in the widest usable block that holds it (blocks nest).
            block_of[_full_blocks(where // k, k)] = k
        blocks = []
        for k, dtype in _BLOCKS:
            chosen = np.flatnonzero(block_of == k)
            if not chosen.size:
                continue
            heads = offsets[chosen[::k]]
            start = -misalign % k
            block_values = np.ascontiguousarray(values[chosen])
            blocks.append(
                (
                    start,
                    start + (size - start) // k * k,
                    dtype,
                    ((heads - start) // k).astype(np.intp),
                    block_values.reshape(-1, k).view(dtype).reshape(-1),
                )
            )
        return cls(
            tuple(blocks),
            (blend // width * stride + blend % width).astype(np.intp),
            outcome.blend_rows,
            outcome.table,
        )

    def paint(self, flat: np.ndarray) -> None:
        """Write the blocks, then blend the rest, into a flat plane."""
        for start, stop, dtype, where, values in self.blocks:
            flat[start:stop].view(dtype)[where] = values
        at = self.blend_at
        if at.size:
            flat[at] = self.table[self.blend_keys + flat[at]]


def _runs(outcome: _Outcome, stride: int) -> tuple[np.ndarray, ...]:
    """The compiled kernel's ``paint`` arguments (after the plane) for one
    plane's outcome, as byte offsets into rows ``stride`` bytes apart: runs of
    consecutive known bytes (offsets, lengths, their bytes back to back), then
    the blends (offsets, table rows, table)."""
    width, keys = outcome.width, outcome.known_keys
    # Keys are sorted and columns stay below the width, so offsets rise.
    offsets = keys // width * stride + keys % width
    heads = np.flatnonzero(np.diff(offsets, prepend=-2) != 1)
    lengths = np.diff(heads, append=offsets.size)
    blend = outcome.blend_keys
    return (
        offsets[heads].astype(np.int64),
        lengths.astype(np.int64),
        np.ascontiguousarray(outcome.known_values, np.uint8),
        (blend // width * stride + blend % width).astype(np.int64),
        np.ascontiguousarray(outcome.blend_rows, np.int64),
        outcome.table,
    )


def _full_blocks(block: np.ndarray, k: int) -> np.ndarray:
    """For sorted block numbers of distinct bytes, whether each byte's block
    holds all ``k`` of its bytes."""
    if not block.size:
        return np.zeros(0, bool)
    heads = np.flatnonzero(np.concatenate(([True], block[1:] != block[:-1])))
    counts = np.diff(np.append(heads, block.size))
    return np.repeat(counts == k, counts)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct ``values`` (by sorting: ``np.unique``'s hashing is slow
    for millions of integers)."""
    values = np.sort(values)
    if values.size:
        values = values[np.concatenate(([True], values[1:] != values[:-1]))]
    return values


def _outcome(pixels: Sequence[PlanePixels], width: int) -> _Outcome:
    """Simulate painting ``pixels`` in order on a plane ``width`` pixels wide."""
    full = [p.full_rows.astype(np.int64) * width + p.full_cols for p in pixels]
    part = [p.part_rows.astype(np.int64) * width + p.part_cols for p in pixels]
    keys = _distinct(np.concatenate([np.zeros(0, np.int64), *full, *part]))
    # Per pixel: its known value, or -1 while it still depends on what is
    # under it; then ``chain`` names the sequence of blends applied so far.
    known = np.full(keys.size, -1, np.int16)
    chain = np.zeros(keys.size, np.int64)
    links: list[tuple[int, int, int]] = [(0, 0, 0)]  # (parent, value, weight key)
    ids: dict[tuple[int, int, int], int] = {}
    for p, f, q in zip(pixels, full, part, strict=True):
        if f.size:
            known[np.searchsorted(keys, f)] = p.value
        if not q.size:
            continue
        at = np.searchsorted(keys, q)
        under = known[at]
        fixed = under >= 0
        if fixed.any():
            known[at[fixed]] = p.table[p.part_keys[fixed] + under[fixed]]
        free = ~fixed
        if free.any():
            at = at[free]
            # Part keys are weight * 256 (below 65536): pack (chain, weight).
            pairs = chain[at] << 16 | p.part_keys[free]
            distinct, inverse = np.unique(pairs, return_inverse=True)
            fresh = np.empty(distinct.size, np.int64)
            for j, pair in enumerate(distinct.tolist()):
                link = (pair >> 16, p.value, pair & 0xFFFF)
                fresh[j] = ids.setdefault(link, len(links))
                if fresh[j] == len(links):
                    links.append(link)
            chain[at] = fresh[inverse.reshape(-1)]
    luts = np.empty((len(links), 256), np.uint8)
    luts[0] = _IDENTITY
    for i, (parent, value, weight) in enumerate(links[1:], 1):
        luts[i] = blend_table(value)[weight + luts[parent].astype(np.intp)]
    blended = known < 0
    # Distinct chains first (a translucent fill may blend a million pixels),
    # then distinct tables (different chains can blend alike).
    used, by_pixel = np.unique(chain[blended], return_inverse=True)
    if used.size:
        rows, by_chain = np.unique(luts[used], axis=0, return_inverse=True)
        index = by_chain.reshape(-1)[by_pixel.reshape(-1)]
    else:
        rows, index = _IDENTITY[None, :], np.zeros(0, np.intp)
    table = np.ascontiguousarray(rows).reshape(-1)
    table.setflags(write=False)
    return _Outcome(
        width,
        keys[~blended],
        known[~blended].astype(np.uint8),
        keys[blended],
        index.reshape(-1).astype(np.intp) * 256,
        table,
    )


class _Flattened:
    """Consecutive stamps, reduced to their outcome on each plane."""

    __slots__ = ("planes", "_runs")

    def __init__(self, stamps: Sequence[Stamp], width: int, height: int):
        chroma = (width + 1) // 2
        self.planes = tuple(
            _outcome([s.planes[p] for s in stamps], chroma if p else width)
            for p in range(3)
        )
        # Kernel arguments per plane, by the planes' row strides.
        self._runs: dict[tuple[int, ...], tuple[tuple[np.ndarray, ...], ...]] = {}

    def paint(self, flat: FlatCanvas) -> None:
        kernel = native.kernel()
        if kernel is not None:
            # The kernel takes the 2-D planes as they are (padding and all),
            # so the flat views and their alignment are never worked out; it
            # checks every offset against each plane's memory first. Kept to
            # a few steps: after a decode flushed the caches, each Python-level
            # step costs a good fraction of a microsecond.
            canvas = flat.canvas
            y, u, v = canvas.y, canvas.u, canvas.v
            layout = (y.strides[0], u.strides[0], v.strides[0])
            runs = self._runs.get(layout)
            if runs is None:
                # Frames from one decoder keep one layout, so this runs once.
                runs = tuple(map(_runs, self.planes, layout))
                self._runs[layout] = runs
            kernel.paint(y, *runs[0])
            kernel.paint(u, *runs[1])
            kernel.paint(v, *runs[2])
            return
        for outcome, (plane, stride), misalign in zip(
            self.planes, flat.planes, flat.misalign, strict=True
        ):
            outcome.ops(stride, misalign, plane.size).paint(plane)


class Program:
    """Compiled shapes for one canvas size, flattened for cheap replay."""

    __slots__ = ("width", "height", "_steps")

    def __init__(self, pieces: Sequence[Compiled], width: int, height: int):
        self.width, self.height = width, height
        steps: list[Compiled | _Flattened] = []
        batch: list[Stamp] = []
        for piece in [*_flatten(pieces), None]:
            if isinstance(piece, Stamp):
                batch.append(piece)
                continue
            if batch:
                steps.append(_Flattened(batch, width, height))
                batch = []
            if piece is not None:
                steps.append(piece)
        self._steps = steps

    def apply(self, canvas: YuvCanvas) -> None:
        """Paint every shape in order; raise ``BadFrame`` if the size differs."""
        if self._steps:
            self.paint(FlatCanvas.of(canvas))

    def paint(self, flat: FlatCanvas) -> None:
        """Paint every shape in order onto a flattened canvas."""
        if self._steps:
            check_size(flat.canvas, self.width, self.height)
        for step in self._steps:
            step.paint(flat)


def _flatten(pieces: Sequence[Compiled]) -> list[Compiled]:
    out: list[Compiled] = []
    for piece in pieces:
        if isinstance(piece, Group):
            out.extend(_flatten(piece.parts))
        else:
            out.append(piece)
    return out
