"""Many compiled shapes merged into a few scatter operations per frame.

Replaying stamps one by one costs a dozen numpy calls each, which dominates
at 720p. A ``Program`` groups consecutive stamps whose pixels do not overlap
(so their order cannot matter) and, per group and plane, paints with three
operations: aligned 4-byte words of one value, single opaque bytes, and a
table look-up blend for anti-aliased fringes. Overlapping stamps start a new
group, so the result is exactly that of painting them in order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from media_core.canvas import YuvCanvas
from media_core.draw.shapes import Group
from media_core.draw.stamp import (
    Compiled,
    FlatCanvas,
    PlanePixels,
    Stamp,
    blend_table,
)

logger = logging.getLogger(__name__)

_REPLICATE = np.uint32(0x01010101)


@dataclass(slots=True)
class _PlaneOps:
    """One group's pixels on one plane, as absolute rows/cols."""

    full_rows: np.ndarray
    full_cols: np.ndarray
    full_values: np.ndarray
    part_rows: np.ndarray
    part_cols: np.ndarray
    part_keys: np.ndarray
    table: np.ndarray
    compiled: dict[tuple[int, int], tuple[np.ndarray, ...]] = field(
        default_factory=dict
    )

    def paint(self, flat: np.ndarray, stride: int, start: int) -> None:
        ops = self.compiled.get((stride, start))
        if ops is None:
            ops = self._prepare(stride, start)
            self.compiled[(stride, start)] = ops
        words_at, words, bytes_at, values, part_at, keys = ops
        if words_at.size:
            usable = (flat.size - start) // 4 * 4
            flat[start : start + usable].view(np.uint32)[words_at] = words
        if bytes_at.size:
            flat[bytes_at] = values
        if part_at.size:
            flat[part_at] = self.table[keys + flat[part_at]]

    def _prepare(self, stride: int, start: int) -> tuple[np.ndarray, ...]:
        offsets = self.full_rows * stride + self.full_cols
        order = np.argsort(offsets, kind="stable")
        offsets, values = offsets[order], self.full_values[order]
        # A word is usable when its four bytes are all opaque with one value.
        aligned = np.flatnonzero((offsets - start) % 4 == 0)
        aligned = aligned[aligned + 3 < offsets.size]
        ok = (offsets[aligned + 3] == offsets[aligned] + 3) & (
            values[aligned + 3] == values[aligned]
        )
        for k in (1, 2):
            ok &= values[aligned + k] == values[aligned]
        heads = aligned[ok]
        in_word = np.zeros(offsets.size, bool)
        for k in range(4):
            in_word[heads + k] = True
        words_at = (offsets[heads] - start) // 4
        words = values[heads].astype(np.uint32) * _REPLICATE
        return (
            words_at.astype(np.intp),
            words,
            offsets[~in_word].astype(np.intp),
            values[~in_word],
            (self.part_rows * stride + self.part_cols).astype(np.intp),
            self.part_keys,
        )


class _MergedStamps:
    """Non-overlapping stamps painted together."""

    __slots__ = ("planes",)

    def __init__(self, stamps: Sequence[Stamp]):
        self.planes = tuple(_merge([s.planes[p] for s in stamps]) for p in range(3))

    def paint(self, flat: FlatCanvas) -> None:
        for ops, (plane, stride), start in zip(
            self.planes, flat.planes, flat.word_starts, strict=True
        ):
            ops.paint(plane, stride, start)


def _merge(pixels: list[PlanePixels]) -> _PlaneOps:
    values = sorted({p.value for p in pixels if p.part_rows.size})
    slot = {v: i for i, v in enumerate(values)}
    tables = [blend_table(v) for v in values] or [blend_table(0)]
    return _PlaneOps(
        np.concatenate([p.full_rows for p in pixels]),
        np.concatenate([p.full_cols for p in pixels]),
        np.concatenate([np.full(p.full_rows.size, p.value, np.uint8) for p in pixels]),
        np.concatenate([p.part_rows for p in pixels]),
        np.concatenate([p.part_cols for p in pixels]),
        np.concatenate(
            [p.part_keys + slot.get(p.value, 0) * 65536 for p in pixels]
        ).astype(np.intp),
        np.concatenate(tables),
    )


class Program:
    """Compiled shapes for one canvas size, merged for cheap replay."""

    __slots__ = ("width", "height", "_steps")

    def __init__(self, pieces: Sequence[Compiled], width: int, height: int):
        self.width, self.height = width, height
        steps: list[Compiled | _MergedStamps] = []
        batch: list[Stamp] = []
        taken = [np.zeros(0, np.int64) for _ in range(3)]

        def flush() -> None:
            if batch:
                steps.append(_MergedStamps(batch))
                batch.clear()
                for p in range(3):
                    taken[p] = np.zeros(0, np.int64)

        for piece in _flatten(pieces):
            if not isinstance(piece, Stamp):
                flush()
                steps.append(piece)
                continue
            keys = [_keys(piece.planes[p], width) for p in range(3)]
            if any(np.isin(keys[p], taken[p]).any() for p in range(3)):
                flush()
            batch.append(piece)
            for p in range(3):
                taken[p] = np.concatenate([taken[p], keys[p]])
        flush()
        self._steps = steps

    def apply(self, canvas: YuvCanvas) -> None:
        """Paint every shape in order."""
        self.paint(FlatCanvas.of(canvas))

    def paint(self, flat: FlatCanvas) -> None:
        """Paint every shape in order onto a flattened canvas."""
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


def _keys(pixels: PlanePixels, width: int) -> np.ndarray:
    rows = np.concatenate([pixels.full_rows, pixels.part_rows])
    cols = np.concatenate([pixels.full_cols, pixels.part_cols])
    return rows.astype(np.int64) * (width + 2) + cols
