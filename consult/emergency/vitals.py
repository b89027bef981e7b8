"""Plausibility flags for ambulance numerics, and NEWS2 with its trend per case.

Scoring reuses ``media_core.vitals.news2`` (RCP 2017 tables). Each
parameter's latest *plausible* value is kept on the case with its time; the
score is computed from those when every parameter is known and none is older
than ``STALE_AFTER``. Implausible values are stored as sent, flagged, and
never reach the score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from media_core.vitals.model import ACVPU_LEVELS, Vitals
from media_core.vitals.news2 import PLAUSIBLE, news2

# Ranges beyond NEWS2's own: a reading outside is a device error, not a patient.
RANGES: dict[str, tuple[float, float]] = {
    **PLAUSIBLE,
    "dbp": (10.0, 250.0),
    "etco2": (0.0, 150.0),
    "gcs": (3.0, 15.0),
    "glucose": (0.5, 60.0),
}
NUMERIC_FIELDS = ("hr", "spo2", "sbp", "dbp", "rr", "temp_c", "etco2", "gcs", "glucose")
SCORED = ("hr", "spo2", "sbp", "rr", "temp_c", "acvpu", "supplemental_o2")
STALE_AFTER = timedelta(minutes=15)
TREND_WINDOW = timedelta(minutes=10)


def check_numerics(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The plausible subset of a numerics set, and flags for the rest.

    Flags read ``"<field>:implausible"`` or ``"<field>:not_a_number"``; a
    diastolic not below the systolic flags both as ``bp:inconsistent``.
    """
    valid: dict[str, Any] = {}
    flags: list[str] = []
    for name in NUMERIC_FIELDS:
        raw = values.get(name)
        if raw is None:
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            flags.append(f"{name}:not_a_number")
            continue
        if not math.isfinite(float(raw)):
            flags.append(f"{name}:not_a_number")
            continue
        low, high = RANGES[name]
        if not low <= float(raw) <= high:
            flags.append(f"{name}:implausible")
            continue
        valid[name] = float(raw)
    if "sbp" in valid and "dbp" in valid and valid["dbp"] >= valid["sbp"]:
        del valid["sbp"], valid["dbp"]
        flags.append("bp:inconsistent")
    acvpu = values.get("acvpu")
    if acvpu is not None:
        if isinstance(acvpu, str) and acvpu.strip().upper() in ACVPU_LEVELS:
            valid["acvpu"] = acvpu.strip().upper()
        else:
            flags.append("acvpu:implausible")
    o2 = values.get("supplemental_o2")
    if o2 is not None:
        if isinstance(o2, bool):
            valid["supplemental_o2"] = o2
        else:
            flags.append("supplemental_o2:implausible")
    return valid, flags


def merge_latest(
    latest: Mapping[str, Any], valid: Mapping[str, Any], at: datetime
) -> dict[str, Any]:
    """``latest`` updated with ``valid`` readings taken at ``at`` (older ones kept)."""
    merged = dict(latest)
    stamp = at.isoformat()
    for name, value in valid.items():
        previous = merged.get(name)
        if previous is None or previous["at"] <= stamp:
            merged[name] = {"v": value, "at": stamp}
    return merged


def score_latest(
    latest: Mapping[str, Any], now: datetime
) -> tuple[int | None, str, dict[str, int | None]]:
    """NEWS2 total, band and per-parameter scores from the fresh latest values."""
    cutoff = (now - STALE_AFTER).isoformat()
    fresh = {
        name: entry["v"]
        for name, entry in latest.items()
        if name in SCORED and entry["at"] >= cutoff
    }
    result = news2(
        Vitals(
            hr=fresh.get("hr"),
            spo2=fresh.get("spo2"),
            sbp=fresh.get("sbp"),
            rr=fresh.get("rr"),
            temp_c=fresh.get("temp_c"),
            acvpu=fresh.get("acvpu"),
            supplemental_o2=fresh.get("supplemental_o2"),
        )
    )
    return result.total, result.band.value, dict(result.scores)


def trend_of(history: list[tuple[datetime, int]], total: int | None) -> str:
    """``rising``/``falling``/``stable`` against the oldest score in the window.

    A change of two points or more counts; with no earlier score it is
    ``new``, and without a current score ``unknown``.
    """
    if total is None:
        return "unknown"
    if not history:
        return "new"
    delta = total - history[0][1]
    if delta >= 2:
        return "rising"
    if delta <= -2:
        return "falling"
    return "stable"
