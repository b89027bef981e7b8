"""Latency stamps: a capture time written into the luma plane as a block code.

The code is a grid of flat black/white luma cells, 20 wide and 4 tall, at the
top-left corner of the frame (draw ``StampLayer`` last so nothing covers it).
Each cell is a multiple of the 16x16 macroblock and grows with the frame
height, so it survives H.264 and VP8 at clinical (and low) bitrates. The cells
carry, in reading order:

* a fixed 16-bit sync pattern (it also gives the reader its black/white levels),
* the capture time as 48 bits of wall-clock milliseconds since the Unix epoch,
* a CRC-16/CCITT-FALSE over those 6 bytes.

``read_stamp`` returns ``None`` unless the sync matches, the contrast is high,
every cell is clearly black or white and the CRC matches, so unstamped or
noisy frames read as "no stamp" rather than a wrong time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from media_core.canvas import YuvCanvas
from media_core.errors import BadFrame

logger = logging.getLogger(__name__)

_COLS = 20
_ROWS = 4
_SYNC = (1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0)
_TIME_BITS = 48
_CRC_BITS = 16
_BLACK = 16
_WHITE = 235
# Minimum white-minus-black distance (of 219) measured on the sync cells.
_MIN_CONTRAST = 90.0
# Each cell must sit this far (fraction of the contrast) from the midpoint.
_MIN_MARGIN = 0.25
_TIME_MASK = (1 << _TIME_BITS) - 1

assert len(_SYNC) + _TIME_BITS + _CRC_BITS == _COLS * _ROWS  # noqa: S101


@dataclass(frozen=True, slots=True)
class StampGeometry:
    """Where the stamp sits in a frame: top-left corner, cell size in pixels."""

    x: int
    y: int
    cell: int

    @property
    def width(self) -> int:
        """Stamp width in luma pixels."""
        return _COLS * self.cell

    @property
    def height(self) -> int:
        """Stamp height in luma pixels."""
        return _ROWS * self.cell


def stamp_geometry(width: int, height: int) -> StampGeometry:
    """The stamp layout for a frame size; raise ``BadFrame`` if it cannot fit.

    Cells are 16 px per 720 lines (16 at 720p, 32 at 1080p, 48 at 4K), halved
    for frames too small for them; the 20x4-cell block is then 320x64 px at
    720p, 640x128 at 1080p and 960x192 at 4K. The reader needs the writer's
    frame size: a rescaled frame reads as "no stamp".
    """
    cell = 16 * max(1, round(height / 720))
    while cell > 4 and (_COLS * cell > width or _ROWS * cell > height):
        cell //= 2
    if _COLS * cell > width or _ROWS * cell > height:
        raise BadFrame(f"frame {width}x{height} is too small for a latency stamp")
    return StampGeometry(0, 0, cell)


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of ``data``."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def wall_clock_ms() -> int:
    """Wall-clock time in integer milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def _encode_bits(ms: int) -> np.ndarray:
    payload = (ms & _TIME_MASK).to_bytes(6, "big")
    value = (int.from_bytes(payload, "big") << _CRC_BITS) | crc16(payload)
    data_bits = _TIME_BITS + _CRC_BITS
    bits = [(value >> (data_bits - 1 - i)) & 1 for i in range(data_bits)]
    return np.array(_SYNC + tuple(bits), np.uint8).reshape(_ROWS, _COLS)


def write_stamp(canvas: YuvCanvas, ms: int) -> None:
    """Draw ``ms`` (wall-clock milliseconds, 48 bits kept) into ``canvas``."""
    if ms < 0:
        raise ValueError("a stamp time must not be negative")
    geo = stamp_geometry(canvas.width, canvas.height)
    bits = _encode_bits(ms)
    levels = np.where(bits == 1, _WHITE, _BLACK).astype(np.uint8)
    block = np.repeat(np.repeat(levels, geo.cell, axis=0), geo.cell, axis=1)
    canvas.y[geo.y : geo.y + geo.height, geo.x : geo.x + geo.width] = block
    # Neutral chroma under the code keeps it grey and cheap to encode.
    cy, cx, ch, cw = geo.y // 2, geo.x // 2, geo.height // 2, geo.width // 2
    canvas.u[cy : cy + ch, cx : cx + cw] = 128
    canvas.v[cy : cy + ch, cx : cx + cw] = 128


def _cell_means(canvas: YuvCanvas, geo: StampGeometry) -> np.ndarray:
    region = canvas.y[geo.y : geo.y + geo.height, geo.x : geo.x + geo.width]
    cells = region.reshape(_ROWS, geo.cell, _COLS, geo.cell)
    # Only the cell's centre: block edges carry deblocking and ringing.
    lo, hi = geo.cell // 4, geo.cell - geo.cell // 4
    inner = cells[:, lo:hi, :, lo:hi].astype(np.float32)
    return inner.mean(axis=(1, 3))


_SYNC_ARRAY = np.array(_SYNC, bool)


def read_stamp(canvas: YuvCanvas) -> int | None:
    """The stamped capture time in ms, or ``None`` when there is no valid stamp."""
    try:
        geo = stamp_geometry(canvas.width, canvas.height)
    except BadFrame:
        return None
    means = _cell_means(canvas, geo).reshape(-1)
    sync = means[: len(_SYNC)]
    white = float(sync[_SYNC_ARRAY].mean())
    black = float(sync[~_SYNC_ARRAY].mean())
    contrast = white - black
    if contrast < _MIN_CONTRAST:
        return None
    mid = (white + black) / 2.0
    if np.any(np.abs(means - mid) < _MIN_MARGIN * contrast):
        return None
    bits = (means > mid).astype(np.uint8)
    if not np.array_equal(bits[: len(_SYNC)], _SYNC_ARRAY.astype(np.uint8)):
        return None
    value = 0
    for bit in bits[len(_SYNC) :]:
        value = (value << 1) | int(bit)
    ms, crc = value >> _CRC_BITS, value & 0xFFFF
    if crc16(ms.to_bytes(6, "big")) != crc:
        return None
    return ms


class StampLayer:
    """A ``Layer`` that stamps each frame with its capture time in wall-clock ms.

    By default the time is ``clock()`` when the frame is drawn. With
    ``from_timestamp`` it is derived from the frame's presentation time
    (seconds), e.g. ``lambda ts: epoch_ms + round(ts * 1000)`` for a source
    whose pts started at a known wall-clock instant.
    """

    def __init__(
        self,
        clock: Callable[[], int] = wall_clock_ms,
        from_timestamp: Callable[[float], int] | None = None,
    ) -> None:
        self._clock = clock
        self._from_timestamp = from_timestamp

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        """Write the capture time for the frame at ``timestamp`` into ``canvas``."""
        if self._from_timestamp is not None:
            ms = self._from_timestamp(timestamp)
        else:
            ms = self._clock()
        write_stamp(canvas, ms)
