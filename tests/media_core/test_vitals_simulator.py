"""The vitals simulator: rhythm, morphology, trends and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from media_core.vitals import SCENARIOS, VitalsFeed, VitalsSimulator, news2
from media_core.vitals.ecg import LEAD_NAMES


def r_peak_rate(ecg: np.ndarray, fs: float) -> float:
    """Heart rate (/min) from local maxima above 0.6 mV at least 250 ms apart."""
    peaks: list[int] = []
    for i in np.flatnonzero(ecg > 0.6):
        if 0 < i < len(ecg) - 1 and ecg[i] >= ecg[i - 1] and ecg[i] > ecg[i + 1]:
            if not peaks or i - peaks[-1] > 0.25 * fs:
                peaks.append(int(i))
    return 60.0 / float(np.mean(np.diff(peaks)) / fs)


def st_shift(sim: VitalsSimulator, t0: float, t1: float) -> float:
    """Mean ST level at R+90 ms above the PR baseline at R-70 ms, in mV."""
    ecg, fs = sim.waveform("ecg", t0 - 1.0, t1 + 1.0, 500)
    first = np.ceil((t0 - 1.0) * fs) / fs
    shifts = []
    for peak in sim.r_peaks(t0, t1):
        st = ecg[round((peak + 0.09 - first) * fs)]
        pr = ecg[round((peak - 0.07 - first) * fs)]
        shifts.append(st - pr)
    return float(np.mean(shifts))


def mean_hr(sim: VitalsSimulator, t0: float, t1: float) -> float:
    """Mean of the displayed HR numerics over a window."""
    return float(np.mean([sim.numerics_at(t).hr for t in np.arange(t0, t1, 0.5)]))


@pytest.mark.parametrize("fs", [250, 500])
@pytest.mark.parametrize("scenario", ["stable", "sepsis", "stemi"])
def test_r_peak_rate_matches_numeric_hr(scenario: str, fs: int) -> None:
    """HR measured from the ECG's R peaks is within 2 /min of the numeric HR."""
    sim = VitalsSimulator(scenario, seed=3)
    ecg, rate = sim.waveform("ecg", 120.0, 150.0, fs)
    assert rate == fs and len(ecg) == 30 * fs
    assert abs(r_peak_rate(ecg, rate) - mean_hr(sim, 120.0, 150.0)) < 2.0


def test_rhythm_has_heart_rate_variability() -> None:
    """RR intervals vary beat to beat (sinus arrhythmia), but not wildly."""
    rr = np.diff(VitalsSimulator("stable", seed=1).r_peaks(60.0, 120.0))
    assert 0.005 < rr.std() / rr.mean() < 0.08


def test_stemi_shows_st_elevation_over_stable() -> None:
    """Lead II ST level in STEMI is at least 0.1 mV (1 mm) above stable."""
    stemi = st_shift(VitalsSimulator("stemi", seed=2), 300.0, 330.0)
    stable = st_shift(VitalsSimulator("stable", seed=2), 300.0, 330.0)
    assert abs(stable) < 0.05
    assert stemi - stable > 0.1


def test_stemi_has_reciprocal_depression_in_avl() -> None:
    """Inferior ST elevation comes with ST depression in aVL."""
    sim = VitalsSimulator("stemi", seed=2)
    ecg, fs = sim.waveform("ecg_aVL", 299.0, 331.0, 500)
    first = np.ceil(299.0 * fs) / fs
    levels = [
        ecg[round((p + 0.09 - first) * fs)] - ecg[round((p - 0.07 - first) * fs)]
        for p in sim.r_peaks(300.0, 330.0)
    ]
    assert np.mean(levels) < -0.05


def test_limb_leads_obey_einthoven() -> None:
    """Lead I + lead III equals lead II, and aVR + aVL + aVF is zero."""
    sim = VitalsSimulator("stemi", seed=5)
    lead = {name: sim.waveform(f"ecg_{name}", 10.0, 20.0)[0] for name in LEAD_NAMES}
    assert np.abs(lead["I"] + lead["III"] - lead["II"]).max() < 1e-9
    assert np.abs(lead["aVR"] + lead["aVL"] + lead["aVF"]).max() < 1e-9


def test_sepsis_trends() -> None:
    """Sepsis: fever, tachycardia, hypotension and tachypnoea worsen over time."""
    sim = VitalsSimulator("sepsis", seed=1)
    early, late = sim.numerics_at(30.0), sim.numerics_at(1170.0)
    assert late.temp_c > early.temp_c > 38.0
    assert late.hr > early.hr > 100
    assert late.sbp < early.sbp and late.sbp < 90
    assert late.rr > early.rr > 20


def test_trauma_haemorrhage_trends() -> None:
    """Haemorrhage: falling BP and SpO2 with a rising HR."""
    sim = VitalsSimulator("trauma", seed=1)
    early, late = sim.numerics_at(30.0), sim.numerics_at(1170.0)
    assert late.sbp < early.sbp - 30
    assert late.hr > early.hr + 30
    assert late.spo2 < early.spo2 - 4


def test_stroke_is_hypertensive_with_reduced_consciousness() -> None:
    """Stroke: systolic above 180 and rising; consciousness not alert."""
    sim = VitalsSimulator("stroke", seed=1)
    early, late = sim.numerics_at(30.0), sim.numerics_at(1170.0)
    assert early.sbp > 180 and late.sbp > early.sbp
    assert early.acvpu != "A"


def test_stemi_turns_bradycardic() -> None:
    """STEMI: tachycardic early, bradycardic once the AV node is ischaemic."""
    sim = VitalsSimulator("stemi", seed=1)
    assert sim.numerics_at(300.0).hr > 100
    assert sim.numerics_at(1000.0).hr < 55


def test_stable_scores_low() -> None:
    """The stable patient stays at NEWS2 0-1 throughout."""
    sim = VitalsSimulator("stable", seed=4)
    totals = [news2(sim.numerics_at(t)).total for t in range(0, 1200, 60)]
    assert max(totals) <= 1  # type: ignore[type-var]


def test_same_seed_is_deterministic() -> None:
    """Two simulators with one seed give identical numerics and samples."""
    a, b = VitalsSimulator("trauma", seed=9), VitalsSimulator("trauma", seed=9)
    assert a.numerics_at(123.4) == b.numerics_at(123.4)
    assert np.array_equal(
        a.waveform("pleth", 50, 60)[0], b.waveform("pleth", 50, 60)[0]
    )


def test_different_seeds_differ() -> None:
    """Different seeds give different ECG samples."""
    a = VitalsSimulator("stable", seed=1).waveform("ecg", 10, 12)[0]
    b = VitalsSimulator("stable", seed=2).waveform("ecg", 10, 12)[0]
    assert not np.allclose(a, b)


def test_windows_tile_without_gaps() -> None:
    """Frame-sized windows concatenate to exactly the one long window."""
    sim = VitalsSimulator("sepsis", seed=7)
    pieces = [
        sim.waveform("ecg", 40 + i / 30, 40 + (i + 1) / 30)[0] for i in range(150)
    ]
    whole, _ = VitalsSimulator("sepsis", seed=7).waveform("ecg", 40, 45)
    assert np.array_equal(np.concatenate(pieces), whole)


def test_pleth_and_resp_are_normalised() -> None:
    """Pleth and respiration samples stay within 0..1."""
    sim = VitalsSimulator("trauma", seed=1)
    for kind in ("pleth", "resp"):
        samples, _ = sim.waveform(kind, 0, 60)
        assert samples.min() >= 0.0 and samples.max() <= 1.0


def test_resp_waveform_matches_numeric_rate() -> None:
    """Breaths counted in the resp trace match the numeric RR within 1.5 /min."""
    sim = VitalsSimulator("sepsis", seed=1)
    resp, fs = sim.waveform("resp", 300.0, 360.0)
    centred = resp - resp.mean()
    rises = np.flatnonzero((centred[:-1] < 0) & (centred[1:] >= 0))
    rate = 60.0 * (len(rises) - 1) / ((rises[-1] - rises[0]) / fs)
    assert abs(rate - float(SCENARIOS["sepsis"].rr.at(330.0))) < 1.5


def test_simulator_is_a_vitals_feed() -> None:
    """The simulator satisfies the VitalsFeed protocol."""
    assert isinstance(VitalsSimulator(), VitalsFeed)


def test_unknown_kind_raises() -> None:
    """An unknown waveform kind raises ValueError."""
    with pytest.raises(ValueError):
        VitalsSimulator().waveform("abp", 0, 1)


def test_per_frame_windows_match_a_fresh_simulator() -> None:
    """Consecutive frame-sized windows (served from the block used last) give
    exactly the samples a simulator that never saw the earlier windows gives."""
    warm = VitalsSimulator("sepsis", seed=4)
    for kind in ("ecg", "pleth", "ecg_V2"):
        for i in range(200):
            t0, t1 = 3.9 + i / 30, 3.9 + (i + 1) / 30
            samples, fs = warm.waveform(kind, t0, t1)
            cold, cold_fs = VitalsSimulator("sepsis", seed=4).waveform(kind, t0, t1)
            assert fs == cold_fs and np.array_equal(samples, cold)
