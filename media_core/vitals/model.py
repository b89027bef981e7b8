"""Vital-sign records and the feed protocol the vitals layer reads from.

Units: heart and respiration rates per minute, SpO2 in percent, pressures in
mmHg, temperature in degrees Celsius. Any numeric may be None or NaN when the
device has no valid reading.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)

# ACVPU consciousness levels: Alert, new Confusion, Voice, Pain, Unresponsive.
ACVPU_LEVELS = ("A", "C", "V", "P", "U")


@dataclass(frozen=True, slots=True)
class Vitals:
    """One set of numerics at a moment in time."""

    hr: float | None = None
    spo2: float | None = None
    sbp: float | None = None
    dbp: float | None = None
    rr: float | None = None
    temp_c: float | None = None
    acvpu: str | None = None
    supplemental_o2: bool | None = None

    @property
    def map(self) -> float | None:
        """Mean arterial pressure estimated as DBP + (SBP - DBP) / 3, or None."""
        if not (valid_number(self.sbp) and valid_number(self.dbp)):
            return None
        sbp, dbp = float(self.sbp), float(self.dbp)  # type: ignore[arg-type]
        return dbp + (sbp - dbp) / 3.0


def valid_number(value: object) -> bool:
    """Whether ``value`` is a real, finite number (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return False
    return math.isfinite(float(value))


@runtime_checkable
class VitalsFeed(Protocol):
    """A source of numerics and waveforms: the simulator or live ingested vitals.

    Times are seconds on the feed's clock (the frame timestamps the layer is
    given). ``waveform`` returns the samples on the absolute grid ``k / fs``
    with ``t0 <= k / fs < t1``, so consecutive windows join without gaps.
    Kinds are ``"ecg"`` (lead II, mV), ``"pleth"`` (0..1) and ``"resp"``
    (0..1); a feed without a kind returns an empty array. A live feed that
    does not have the whole window yet returns the leading samples it has;
    NaN samples mark gaps and are not drawn.
    """

    def numerics_at(self, t: float) -> Vitals:
        """The numerics valid at time ``t``."""

    def waveform(
        self, kind: str, t0: float, t1: float, fs: float | None = None
    ) -> tuple[np.ndarray, float]:
        """Samples of ``kind`` in ``[t0, t1)`` and their rate in Hz."""
