"""NEWS2 as a case computes it, at every boundary of the RCP 2017 tables.

The case scores through ``media_core.vitals.news2``; these tests pin the
boundaries end to end through the case's latest-values path (rounding,
plausibility, staleness) rather than the scorer alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consult.emergency import vitals

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NORMAL = {
    "rr": 16,
    "spo2": 97,
    "supplemental_o2": False,
    "sbp": 125,
    "hr": 80,
    "acvpu": "A",
    "temp_c": 37.0,
}
BOUNDARIES = [
    # (parameter, value, expected score) at each edge of each band.
    ("rr", 8, 3), ("rr", 9, 1), ("rr", 11, 1), ("rr", 12, 0), ("rr", 20, 0),
    ("rr", 21, 2), ("rr", 24, 2), ("rr", 25, 3),
    ("spo2", 91, 3), ("spo2", 92, 2), ("spo2", 93, 2), ("spo2", 94, 1),
    ("spo2", 95, 1), ("spo2", 96, 0),
    ("supplemental_o2", True, 2), ("supplemental_o2", False, 0),
    ("sbp", 90, 3), ("sbp", 91, 2), ("sbp", 100, 2), ("sbp", 101, 1),
    ("sbp", 110, 1), ("sbp", 111, 0), ("sbp", 219, 0), ("sbp", 220, 3),
    ("hr", 40, 3), ("hr", 41, 1), ("hr", 50, 1), ("hr", 51, 0), ("hr", 90, 0),
    ("hr", 91, 1), ("hr", 110, 1), ("hr", 111, 2), ("hr", 130, 2), ("hr", 131, 3),
    ("acvpu", "A", 0), ("acvpu", "C", 3), ("acvpu", "V", 3), ("acvpu", "P", 3),
    ("acvpu", "U", 3),
    ("temp_c", 35.0, 3), ("temp_c", 35.1, 1), ("temp_c", 36.0, 1),
    ("temp_c", 36.1, 0), ("temp_c", 38.0, 0), ("temp_c", 38.1, 1),
    ("temp_c", 39.0, 1), ("temp_c", 39.1, 2),
]  # fmt: skip
SCORE_KEY = {"supplemental_o2": "o2"}


def _latest(values: dict, at: datetime = NOW) -> dict:  # type: ignore[type-arg]
    valid, _flags = vitals.check_numerics(values)
    return vitals.merge_latest({}, valid, at)


@pytest.mark.parametrize(("name", "value", "expected"), BOUNDARIES)
def test_each_boundary_scores_as_the_rcp_table(name, value, expected) -> None:  # type: ignore[no-untyped-def]
    """One parameter at a band edge, the rest normal: that parameter's score."""
    _total, _band, scores = vitals.score_latest(_latest({**NORMAL, name: value}), NOW)
    assert scores[SCORE_KEY.get(name, name)] == expected


@pytest.mark.parametrize(
    ("overrides", "total", "band"),
    [
        ({}, 0, "low"),
        ({"hr": 131}, 3, "low-medium"),
        ({"hr": 111, "rr": 21, "spo2": 95}, 5, "medium"),
        ({"hr": 131, "rr": 25, "spo2": 95}, 7, "high"),
    ],
)
def test_totals_fall_into_the_rcp_bands(overrides, total, band) -> None:  # type: ignore[no-untyped-def]
    """0 low; a single 3 low-medium; 5 medium; 7 high."""
    got_total, got_band, _ = vitals.score_latest(_latest({**NORMAL, **overrides}), NOW)
    assert (got_total, got_band) == (total, band)


def test_stale_readings_do_not_score() -> None:
    """A temperature older than 15 minutes leaves the total unknown."""
    latest = _latest(NORMAL)
    latest["temp_c"]["at"] = (NOW - timedelta(minutes=16)).isoformat()
    assert vitals.score_latest(latest, NOW)[0] is None


def test_implausible_reading_does_not_replace_the_last_good_one() -> None:
    """HR 900 after HR 80: HR stays 80."""
    latest = _latest(NORMAL)
    valid, flags = vitals.check_numerics({"hr": 900})
    merged = vitals.merge_latest(latest, valid, NOW + timedelta(seconds=1))
    assert (merged["hr"]["v"], flags) == (80.0, ["hr:implausible"])


@pytest.mark.parametrize(
    ("history", "total", "trend"),
    [([], 3, "new"), ([3], 5, "rising"), ([5], 3, "falling"), ([4], 5, "stable")],
)
def test_trend_compares_with_the_oldest_score_in_the_window(
    history, total, trend
) -> None:  # type: ignore[no-untyped-def]
    """Two points or more either way is a trend."""
    assert vitals.trend_of([(NOW, h) for h in history], total) == trend
