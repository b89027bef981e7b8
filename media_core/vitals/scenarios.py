"""Clinical scenarios for the simulator: piecewise-linear trends over minutes.

Each trend is a list of ``(minute, value)`` keyframes, held constant before
the first and after the last. The shapes follow the textbook course of each
presentation; they are demo data, not physiology models.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

logger = logging.getLogger(__name__)

Keyframes = Sequence[tuple[float, float]]
_T = TypeVar("_T")


class Trend:
    """A value that moves linearly between keyframes given in minutes."""

    __slots__ = ("_t", "_v", "_area")

    def __init__(self, keyframes: Keyframes):
        if not keyframes:
            raise ValueError("a trend needs at least one keyframe")
        t = np.array([k[0] * 60.0 for k in keyframes], np.float64)
        v = np.array([k[1] for k in keyframes], np.float64)
        if np.any(np.diff(t) <= 0):
            raise ValueError("trend keyframes must be strictly increasing in time")
        self._t, self._v = t, v
        segment_area = np.diff(t) * (v[1:] + v[:-1]) / 2.0
        self._area = np.concatenate(([0.0], np.cumsum(segment_area)))

    def at(self, t: float | np.ndarray) -> float | np.ndarray:
        """The value at ``t`` seconds."""
        return np.interp(t, self._t, self._v)

    def integral(self, t: float | np.ndarray) -> np.ndarray:
        """The integral of the trend from 0 s to ``t`` seconds."""
        return self._antiderivative(np.asarray(t, np.float64)) - self._antiderivative(
            np.zeros(())
        )

    def _antiderivative(self, t: np.ndarray) -> np.ndarray:
        tk, vk = self._t, self._v
        i = np.clip(np.searchsorted(tk, t, side="right") - 1, 0, len(tk) - 1)
        inside = self._area[i] + (t - tk[i]) * (vk[i] + np.interp(t, tk, vk)) / 2.0
        # Before the first keyframe the value is held, so the area is linear.
        return np.where(t < tk[0], (t - tk[0]) * vk[0], inside)


@dataclass(frozen=True)
class Scenario:
    """Named trends for every numeric plus ECG morphology and state changes.

    ``st_mv`` is ST elevation in lead II (mV); ``perfusion`` scales the pleth
    amplitude; ``hrv`` scales heart-rate variability. ``acvpu`` and ``o2``
    are step changes: ``(minute, level)`` pairs in time order.
    """

    name: str
    hr: Trend
    spo2: Trend
    sbp: Trend
    dbp: Trend
    rr: Trend
    temp_c: Trend
    st_mv: Trend = field(default_factory=lambda: Trend([(0, 0.0)]))
    perfusion: Trend = field(default_factory=lambda: Trend([(0, 1.0)]))
    hrv: float = 1.0
    acvpu: tuple[tuple[float, str], ...] = ((0.0, "A"),)
    o2: tuple[tuple[float, bool], ...] = ((0.0, False),)

    def acvpu_at(self, t: float) -> str:
        """Consciousness level at ``t`` seconds."""
        return _step(self.acvpu, t)

    def o2_at(self, t: float) -> bool:
        """Whether supplemental oxygen is on at ``t`` seconds."""
        return _step(self.o2, t)


def _step(steps: tuple[tuple[float, _T], ...], t: float) -> _T:
    current = steps[0][1]
    for minute, value in steps:
        if t >= minute * 60.0:
            current = value
    return current


SCENARIOS: dict[str, Scenario] = {
    "stable": Scenario(
        "stable",
        hr=Trend([(0, 72), (10, 75), (20, 71)]),
        spo2=Trend([(0, 98), (20, 98)]),
        sbp=Trend([(0, 122), (10, 126), (20, 121)]),
        dbp=Trend([(0, 78), (20, 79)]),
        rr=Trend([(0, 14), (20, 15)]),
        temp_c=Trend([(0, 36.8), (20, 36.9)]),
    ),
    # Inferior STEMI: ST rises, sympathetic tachycardia, then AV-nodal
    # ischaemia brings bradycardia and falling pressure.
    "stemi": Scenario(
        "stemi",
        hr=Trend([(0, 92), (5, 112), (9, 106), (12, 52), (20, 46)]),
        spo2=Trend([(0, 95), (10, 94), (20, 93)]),
        sbp=Trend([(0, 148), (6, 138), (12, 104), (20, 92)]),
        dbp=Trend([(0, 92), (6, 86), (12, 64), (20, 56)]),
        rr=Trend([(0, 20), (10, 23), (20, 24)]),
        temp_c=Trend([(0, 36.7), (20, 36.6)]),
        st_mv=Trend([(0, 0.18), (6, 0.32), (20, 0.38)]),
        hrv=0.6,
        o2=((0.0, False), (3.0, True)),
    ),
    "stroke": Scenario(
        "stroke",
        hr=Trend([(0, 84), (10, 74), (20, 62)]),
        spo2=Trend([(0, 96), (20, 95)]),
        sbp=Trend([(0, 188), (10, 212), (20, 226)]),
        dbp=Trend([(0, 104), (10, 116), (20, 122)]),
        rr=Trend([(0, 16), (20, 18)]),
        temp_c=Trend([(0, 37.0), (20, 37.3)]),
        acvpu=((0.0, "C"), (12.0, "V")),
    ),
    "sepsis": Scenario(
        "sepsis",
        hr=Trend([(0, 104), (10, 121), (20, 134)]),
        spo2=Trend([(0, 95), (10, 93), (20, 91)]),
        sbp=Trend([(0, 108), (10, 94), (20, 82)]),
        dbp=Trend([(0, 62), (10, 54), (20, 46)]),
        rr=Trend([(0, 22), (10, 26), (20, 30)]),
        temp_c=Trend([(0, 38.5), (10, 39.2), (20, 39.7)]),
        perfusion=Trend([(0, 0.8), (20, 0.45)]),
        hrv=0.4,
        acvpu=((0.0, "A"), (12.0, "C")),
        o2=((0.0, False), (8.0, True)),
    ),
    "trauma": Scenario(
        "trauma",
        hr=Trend([(0, 98), (8, 122), (15, 138), (20, 144)]),
        spo2=Trend([(0, 97), (10, 94), (20, 89)]),
        sbp=Trend([(0, 126), (8, 104), (15, 84), (20, 74)]),
        dbp=Trend([(0, 82), (8, 70), (15, 52), (20, 44)]),
        rr=Trend([(0, 19), (10, 25), (20, 31)]),
        temp_c=Trend([(0, 36.4), (20, 35.4)]),
        perfusion=Trend([(0, 0.9), (20, 0.3)]),
        hrv=0.5,
        acvpu=((0.0, "A"), (10.0, "V"), (17.0, "P")),
        o2=((0.0, False), (2.0, True)),
    ),
}
