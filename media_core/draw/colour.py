"""Colours for drawing into yuv420p planes, converted once from RGB(A).

The conversion is BT.601 with limited ("studio") range: Y in 16..235 and
U/V in 16..240. That is what browsers and x264 assume for an untagged
``yuv420p`` stream, so a colour converted here shows as the RGB it was given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


def rgb_to_yuv(r: float, g: float, b: float) -> tuple[int, int, int]:
    """Convert 8-bit full-range RGB to BT.601 limited-range 8-bit (Y, U, V)."""
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    return _byte(y), _byte(u), _byte(v)


def _byte(value: float) -> int:
    return min(255, max(0, int(value + 0.5)))


@dataclass(frozen=True, slots=True)
class Colour:
    """A paint colour as BT.601 limited-range Y/U/V bytes plus opacity 0..1."""

    y: int
    u: int
    v: int
    alpha: float = 1.0

    @classmethod
    def rgb(cls, r: int, g: int, b: int, a: float = 255) -> Colour:
        """Make a colour from 8-bit RGB and an 8-bit alpha (255 is opaque)."""
        y, u, v = rgb_to_yuv(r, g, b)
        return cls(y, u, v, min(1.0, max(0.0, float(a) / 255.0)))

    @classmethod
    def hex(cls, code: str) -> Colour:
        """Make a colour from ``#rrggbb`` or ``#rrggbbaa``."""
        digits = code.removeprefix("#")
        if len(digits) not in (6, 8):
            raise ValueError(f"expected #rrggbb or #rrggbbaa, got {code!r}")
        parts = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
        return cls.rgb(*parts)

    def with_alpha(self, alpha: float) -> Colour:
        """The same colour with opacity ``alpha`` (0..1)."""
        return Colour(self.y, self.u, self.v, min(1.0, max(0.0, alpha)))

    @property
    def opaque(self) -> bool:
        """Whether the colour fully replaces what is under it."""
        return self.alpha >= 1.0


WHITE = Colour.rgb(255, 255, 255)
BLACK = Colour.rgb(0, 0, 0)
