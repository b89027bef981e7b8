"""NEWS2 scoring against the RCP 2017 chart, boundaries included."""

from __future__ import annotations

import math

import pytest

from media_core.vitals import Band, Vitals, news2
from media_core.vitals.news2 import (
    score_acvpu,
    score_hr,
    score_o2,
    score_rr,
    score_sbp,
    score_spo2,
    score_temp,
)

NORMAL = Vitals(
    hr=72,
    spo2=98,
    sbp=120,
    dbp=80,
    rr=16,
    temp_c=37.0,
    acvpu="A",
    supplemental_o2=False,
)


@pytest.mark.parametrize(
    ("rr", "score"),
    [(8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (40, 3)],
)
def test_respiration_rate_bands(rr: float, score: int) -> None:
    """Respiration rate scores per the chart at each boundary."""
    assert score_rr(rr) == score


@pytest.mark.parametrize(
    ("spo2", "score"), [(91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
)
def test_spo2_scale_1_bands(spo2: float, score: int) -> None:
    """SpO2 scale 1 scores per the chart at each boundary."""
    assert score_spo2(spo2) == score


@pytest.mark.parametrize(
    ("spo2", "on_o2", "score"),
    [
        (83, False, 3),
        (84, True, 2),
        (86, True, 1),
        (88, True, 0),
        (92, True, 0),
        (93, False, 0),
        (93, True, 1),
        (95, True, 2),
        (97, True, 3),
        (99, False, 0),
    ],
)
def test_spo2_scale_2_bands(spo2: float, on_o2: bool, score: int) -> None:
    """SpO2 scale 2 scores high saturations only when on oxygen."""
    assert score_spo2(spo2, scale=2, on_o2=on_o2) == score


@pytest.mark.parametrize(
    ("sbp", "score"),
    [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_systolic_bands(sbp: float, score: int) -> None:
    """Systolic pressure scores per the chart at each boundary."""
    assert score_sbp(sbp) == score


@pytest.mark.parametrize(
    ("hr", "score"),
    [
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
    ],
)
def test_pulse_bands(hr: float, score: int) -> None:
    """Pulse scores per the chart at each boundary."""
    assert score_hr(hr) == score


@pytest.mark.parametrize(
    ("temp", "score"),
    [
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (38.04, 0),
        (38.05, 1),
    ],
)
def test_temperature_bands(temp: float, score: int) -> None:
    """Temperature scores per the chart, after rounding to 0.1 degC."""
    assert score_temp(temp) == score


@pytest.mark.parametrize(
    ("level", "score"), [("A", 0), ("C", 3), ("v", 3), ("P", 3), ("U", 3)]
)
def test_consciousness(level: str, score: int) -> None:
    """Alert scores 0; any of C, V, P or U scores 3."""
    assert score_acvpu(level) == score


def test_oxygen_scores_two() -> None:
    """Supplemental oxygen scores 2 and air scores 0."""
    assert (score_o2(True), score_o2(False)) == (2, 0)


@pytest.mark.parametrize(
    "value", [None, math.nan, math.inf, -5.0, 0.0, 1000.0, True, "72"]
)
def test_invalid_pulse_is_unknown(value: object) -> None:
    """Missing, non-finite, implausible or non-numeric values score None."""
    assert score_hr(value) is None  # type: ignore[arg-type]


def test_unknown_consciousness_and_oxygen() -> None:
    """An unrecognised level or a missing oxygen flag is unknown."""
    assert score_acvpu("X") is None and score_acvpu(None) is None
    assert score_o2(None) is None


def test_normal_patient_scores_zero_low() -> None:
    """Normal vitals give total 0 in the low band."""
    result = news2(NORMAL)
    assert result.total == 0 and result.band is Band.LOW


def test_single_red_parameter_is_low_medium() -> None:
    """One parameter scoring 3 with a total under 5 is the low-medium band."""
    result = news2(Vitals(**{**_fields(NORMAL), "acvpu": "V"}))
    assert result.total == 3 and result.band is Band.LOW_MEDIUM


def test_total_five_is_medium() -> None:
    """A total of 5 or 6 is the medium band."""
    result = news2(
        Vitals(**{**_fields(NORMAL), "hr": 115, "supplemental_o2": True, "rr": 22})
    )
    assert result.total == 6 and result.band is Band.MEDIUM


def test_septic_patient_is_high() -> None:
    """Tachycardia, hypotension, fever, tachypnoea and low SpO2 reach high."""
    septic = Vitals(
        hr=132,
        spo2=91,
        sbp=88,
        dbp=50,
        rr=28,
        temp_c=39.5,
        acvpu="C",
        supplemental_o2=True,
    )
    result = news2(septic)
    assert result.total == 3 + 3 + 2 + 3 + 3 + 3 + 2
    assert result.band is Band.HIGH


def test_any_unknown_parameter_makes_total_unknown() -> None:
    """A NaN reading leaves that score None and the total and band unknown."""
    result = news2(Vitals(**{**_fields(NORMAL), "spo2": math.nan}))
    assert result.scores["spo2"] is None and result.scores["hr"] == 0
    assert result.total is None and result.band is Band.UNKNOWN


def test_map_is_derived_from_pressures() -> None:
    """MAP is DBP + (SBP - DBP) / 3, and None if a pressure is missing."""
    assert NORMAL.map == pytest.approx(80 + 40 / 3)
    assert Vitals(sbp=120).map is None


def _fields(vitals: Vitals) -> dict[str, object]:
    return {name: getattr(vitals, name) for name in Vitals.__slots__}
