"""NEWS2 (Royal College of Physicians, 2017) scoring from one set of numerics.

Values are rounded as a chart would record them (whole numbers; temperature
to 0.1 degC) before scoring. A missing, non-finite or physiologically
impossible value scores None ("unknown") rather than a wrong number, and then
the total and band are unknown too.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass

from media_core.vitals.model import ACVPU_LEVELS, Vitals, valid_number

logger = logging.getLogger(__name__)

# Readings outside these ranges are device errors, not patients.
PLAUSIBLE = {
    "rr": (1.0, 80.0),
    "spo2": (40.0, 100.0),
    "sbp": (30.0, 300.0),
    "hr": (10.0, 300.0),
    "temp_c": (25.0, 45.0),
}

PARAMETERS = ("rr", "spo2", "o2", "sbp", "hr", "acvpu", "temp_c")


class Band(enum.Enum):
    """NEWS2 clinical risk bands and the response each triggers."""

    LOW = "low"  # 0-4: ward-based response
    LOW_MEDIUM = "low-medium"  # a single parameter scoring 3: urgent ward review
    MEDIUM = "medium"  # 5-6: urgent response, review within 1 h
    HIGH = "high"  # 7+: emergency response, critical-care team
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class News2:
    """Per-parameter scores (None when unknown), total and band."""

    scores: dict[str, int | None]
    total: int | None
    band: Band


def _whole(value: float | None, name: str) -> int | None:
    if not valid_number(value):
        return None
    low, high = PLAUSIBLE[name]
    if not low <= float(value) <= high:  # type: ignore[arg-type]
        return None
    return math.floor(float(value) + 0.5)  # type: ignore[arg-type]


def score_rr(rr: float | None) -> int | None:
    """Respiration rate (/min): <=8 3, 9-11 1, 12-20 0, 21-24 2, >=25 3."""
    v = _whole(rr, "rr")
    if v is None:
        return None
    return 3 if v <= 8 else 1 if v <= 11 else 0 if v <= 20 else 2 if v <= 24 else 3


def score_spo2(
    spo2: float | None, *, scale: int = 1, on_o2: bool | None = False
) -> int | None:
    """SpO2 (%), scale 1 by default; scale 2 is for hypercapnic patients."""
    v = _whole(spo2, "spo2")
    if v is None:
        return None
    if scale == 1:
        return 3 if v <= 91 else 2 if v <= 93 else 1 if v <= 95 else 0
    if scale != 2:
        raise ValueError(f"SpO2 scale must be 1 or 2, got {scale}")
    if v <= 83:
        return 3
    if v <= 85:
        return 2
    if v <= 87:
        return 1
    if v <= 92:
        return 0
    if on_o2 is None:
        return None
    if not on_o2:
        return 0
    return 1 if v <= 94 else 2 if v <= 96 else 3


def score_o2(supplemental_o2: bool | None) -> int | None:
    """Air 0, supplemental oxygen 2."""
    if not isinstance(supplemental_o2, bool):
        return None
    return 2 if supplemental_o2 else 0


def score_sbp(sbp: float | None) -> int | None:
    """Systolic BP (mmHg): <=90 3, 91-100 2, 101-110 1, 111-219 0, >=220 3."""
    v = _whole(sbp, "sbp")
    if v is None:
        return None
    return 3 if v <= 90 else 2 if v <= 100 else 1 if v <= 110 else 0 if v <= 219 else 3


def score_hr(hr: float | None) -> int | None:
    """Pulse (/min): <=40 3, 41-50 1, 51-90 0, 91-110 1, 111-130 2, >=131 3."""
    v = _whole(hr, "hr")
    if v is None:
        return None
    if v <= 40:
        return 3
    return 1 if v <= 50 else 0 if v <= 90 else 1 if v <= 110 else 2 if v <= 130 else 3


def score_acvpu(acvpu: str | None) -> int | None:
    """Alert 0; new confusion, voice, pain or unresponsive 3."""
    if not isinstance(acvpu, str) or acvpu.strip().upper() not in ACVPU_LEVELS:
        return None
    return 0 if acvpu.strip().upper() == "A" else 3


def score_temp(temp_c: float | None) -> int | None:
    """Temperature (degC): <=35.0 3, 35.1-36.0 1, 36.1-38.0 0, 38.1-39.0 1, >=39.1 2."""
    if not valid_number(temp_c):
        return None
    low, high = PLAUSIBLE["temp_c"]
    if not low <= float(temp_c) <= high:  # type: ignore[arg-type]
        return None
    # Whole tenths avoid float edges such as 38.0 stored as 38.000000001.
    tenths = math.floor(float(temp_c) * 10.0 + 0.5)  # type: ignore[arg-type]
    if tenths <= 350:
        return 3
    return 1 if tenths <= 360 else 0 if tenths <= 380 else 1 if tenths <= 390 else 2


def news2(vitals: Vitals, *, spo2_scale: int = 1) -> News2:
    """Score ``vitals`` with NEWS2; ``spo2_scale`` 2 only on clinical instruction."""
    scores = {
        "rr": score_rr(vitals.rr),
        "spo2": score_spo2(vitals.spo2, scale=spo2_scale, on_o2=vitals.supplemental_o2),
        "o2": score_o2(vitals.supplemental_o2),
        "sbp": score_sbp(vitals.sbp),
        "hr": score_hr(vitals.hr),
        "acvpu": score_acvpu(vitals.acvpu),
        "temp_c": score_temp(vitals.temp_c),
    }
    known = [s for s in scores.values() if s is not None]
    if len(known) < len(scores):
        return News2(scores, None, Band.UNKNOWN)
    total = sum(known)
    return News2(scores, total, band_for(total, max(known)))


def band_for(total: int, worst_single: int) -> Band:
    """The clinical band for a total score and the highest single-parameter score."""
    if total >= 7:
        return Band.HIGH
    if total >= 5:
        return Band.MEDIUM
    if worst_single >= 3:
        return Band.LOW_MEDIUM
    return Band.LOW
