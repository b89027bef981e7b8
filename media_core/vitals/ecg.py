"""ECG morphology: per-beat sums of Gaussians (after McSharry's ECGSYN).

Each beat is P, Q, R, S and T waves placed relative to the R peak, plus an
ST-segment wave used for ST elevation. Timings stretch with sqrt(RR) the way
the QT interval does (Bazett). Amplitudes are in mV per lead; the limb leads
III, aVR, aVL and aVF are derived from I and II (Einthoven and Goldberger)
so the 12 leads stay mutually consistent.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

WAVES = ("P", "Q", "R", "S", "T", "ST")
# Offset from the R peak (s) and width (s); T and ST also scale with sqrt(RR).
_OFFSET = np.array([-0.17, -0.028, 0.0, 0.028, 0.30, 0.13])
_WIDTH = np.array([0.022, 0.009, 0.011, 0.010, 0.05, 0.05])
_STRETCH = np.array([False, False, False, False, True, True])

# P, Q, R, S, T amplitudes (mV) and the share of the lead-II ST shift, for the
# independent leads. Inferior STEMI: II up, I down a little (reciprocal).
_BASE = {
    "I": ([0.08, -0.05, 0.70, -0.10, 0.20], -0.3),
    "II": ([0.15, -0.10, 1.30, -0.30, 0.35], 1.0),
    "V1": ([0.06, 0.00, 0.25, -1.00, 0.05], -0.3),
    "V2": ([0.08, 0.00, 0.50, -1.40, 0.50], -0.3),
    "V3": ([0.08, 0.00, 0.90, -0.90, 0.55], -0.1),
    "V4": ([0.08, -0.05, 1.40, -0.50, 0.50], 0.1),
    "V5": ([0.08, -0.08, 1.30, -0.30, 0.40], 0.3),
    "V6": ([0.07, -0.08, 1.00, -0.15, 0.30], 0.3),
}


def _derive() -> dict[str, tuple[np.ndarray, float]]:
    lead_i, st_i = np.array(_BASE["I"][0]), _BASE["I"][1]
    lead_ii, st_ii = np.array(_BASE["II"][0]), _BASE["II"][1]
    derived = {
        "III": (lead_ii - lead_i, st_ii - st_i),
        "aVR": (-(lead_i + lead_ii) / 2.0, -(st_i + st_ii) / 2.0),
        "aVL": (lead_i - lead_ii / 2.0, st_i - st_ii / 2.0),
        "aVF": (lead_ii - lead_i / 2.0, st_ii - st_i / 2.0),
    }
    table = {name: (np.array(a), st) for name, (a, st) in _BASE.items()}
    table.update(derived)
    return table


LEADS = _derive()
# Limb leads as a * I + b * II, so noise and baseline wander stay consistent.
LIMB = {
    "I": (1.0, 0.0),
    "II": (0.0, 1.0),
    "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5),
    "aVL": (1.0, -0.5),
    "aVF": (-0.5, 1.0),
}
LEAD_NAMES = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def beat_waves(
    lead: str, rr: np.ndarray, st_mv: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets, widths and amplitudes, each ``(beats, waves)``, for one lead.

    ``rr`` is each beat's RR interval (s); ``st_mv`` its lead-II ST elevation.
    """
    amps, st_share = LEADS[lead]
    stretch = np.sqrt(np.clip(rr, 0.3, 2.0))[:, None]
    scale = np.where(_STRETCH, stretch, 1.0)
    offsets = _OFFSET * scale
    widths = _WIDTH * scale
    st = (st_mv * st_share)[:, None]
    # Hyperacute T: the T wave grows with the ST shift in the same leads.
    amplitudes = np.concatenate(
        [np.broadcast_to(amps[:4], (len(rr), 4)), amps[4] + 0.6 * st, st], axis=1
    )
    return offsets, widths, amplitudes


def render_beats(
    times: np.ndarray,
    r_peaks: np.ndarray,
    offsets: np.ndarray,
    widths: np.ndarray,
    amplitudes: np.ndarray,
    reach: tuple[float, float] = (-0.35, 0.75),
) -> np.ndarray:
    """Sum every beat's Gaussians over the sample ``times`` (sorted)."""
    out = np.zeros_like(times)
    for k, peak in enumerate(r_peaks):
        lo, hi = np.searchsorted(times, (peak + reach[0], peak + reach[1]))
        if lo == hi:
            continue
        dt = times[lo:hi, None] - (peak + offsets[k])
        out[lo:hi] += np.exp(-0.5 * (dt / widths[k]) ** 2) @ amplitudes[k]
    return out
