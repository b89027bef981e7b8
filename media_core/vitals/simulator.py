"""A deterministic vitals simulator: numerics, ECG, pleth and respiration.

Every output is a pure function of ``(scenario, seed, t)``: beats fall where
a cardiac phase (the integral of the HR trend, bent by respiratory sinus
arrhythmia and a 0.1 Hz Mayer wave) crosses a whole number, plus seeded
per-beat jitter, and noise comes from a counter-based hash of the sample
index. So any window of any signal, however late, costs the same and always
gives the same samples.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict

import numpy as np

from media_core.vitals.ecg import LEAD_NAMES, LIMB, beat_waves, render_beats
from media_core.vitals.model import Vitals
from media_core.vitals.scenarios import SCENARIOS, Scenario

logger = logging.getLogger(__name__)

DEFAULT_FS = {"ecg": 250.0, "pleth": 125.0, "resp": 25.0}
KINDS = ("ecg", "pleth", "resp", *(f"ecg_{lead}" for lead in LEAD_NAMES))
_MASK64 = (1 << 64) - 1
_BLOCK_SECONDS = 4.0
_CACHED_BLOCKS = 64


def hash_uniform(n: np.ndarray, key: int) -> np.ndarray:
    """Uniform [0, 1) numbers from integer counters (splitmix64)."""
    z = np.asarray(n).astype(np.int64).astype(np.uint64)
    z = z + np.uint64((key * 0x9E3779B97F4A7C15) & _MASK64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def hash_normal(n: np.ndarray, key: int) -> np.ndarray:
    """Standard normal numbers from integer counters (Box-Muller)."""
    u1 = 1.0 - hash_uniform(n, key)
    u2 = hash_uniform(n, key ^ 0x5BD1E995)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


class VitalsSimulator:
    """Simulated patient for ``scenario`` (a name in ``SCENARIOS`` or a Scenario).

    Times are seconds from the start of the scenario. Thread-safe.
    """

    def __init__(self, scenario: str | Scenario = "stable", seed: int = 0):
        if isinstance(scenario, str):
            if scenario not in SCENARIOS:
                raise ValueError(
                    f"unknown scenario {scenario!r}; try {list(SCENARIOS)}"
                )
            scenario = SCENARIOS[scenario]
        self.scenario = scenario
        self.seed = int(seed)
        phases = hash_uniform(np.arange(3), self.seed)
        self._resp_phase0, self._mayer_phase, self._beat_phase0 = (
            float(p) for p in phases
        )
        self._lock = threading.Lock()
        self._blocks: OrderedDict[tuple[str, float, int], np.ndarray] = OrderedDict()
        # Per kind at its default rate: (rate, first sample index, block) of the
        # block served last, so a monitor's per-frame request skips the LRU.
        self._recent: dict[str, tuple[float, int, np.ndarray]] = {}

    # Rhythm -------------------------------------------------------------

    def resp_cycles(self, t: float | np.ndarray) -> np.ndarray:
        """Breaths completed by ``t`` (fractional), from the RR trend's integral."""
        return self.scenario.rr.integral(t) / 60.0 + self._resp_phase0

    def r_peaks(self, t0: float, t1: float) -> np.ndarray:
        """Times (s) of the R peaks in ``[t0, t1)``."""
        return self._beats(t0, t1)[0]

    def _phase(self, t: np.ndarray) -> np.ndarray:
        """Beats elapsed by ``t``: the HR trend's integral plus slow modulation.

        Respiratory sinus arrhythmia and a 0.1 Hz Mayer wave bend the phase;
        its slope stays positive for any heart rate above 15 /min.
        """
        sc = self.scenario
        rsa = 0.02 * np.sin(2.0 * np.pi * self.resp_cycles(t))
        mayer = 0.03 * np.sin(2.0 * np.pi * (0.1 * t + self._mayer_phase))
        return sc.hr.integral(t) / 60.0 + sc.hrv * (rsa + mayer) + self._beat_phase0

    def _beats(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """R peaks in ``[t0, t1)`` and each one's RR interval (s).

        A beat falls where the phase crosses a whole number, so any window is
        computed directly, however late, and always gives the same beats.
        """
        margin = 4.5  # one RR interval at 15 /min, and then some
        grid = np.arange(t0 - margin, t1 + margin, 0.005)
        phase = self._phase(grid)
        numbers = np.arange(math.ceil(phase[0]), math.floor(phase[-1]) + 1)
        jitter = 0.006 * self.scenario.hrv * hash_normal(numbers, self.seed + 11)
        times = np.interp(numbers, phase, grid) + jitter
        rr = np.diff(times)
        times = times[:-1]
        inside = (times >= t0) & (times < t1)
        return times[inside], rr[inside]

    # Numerics -----------------------------------------------------------

    def numerics_at(self, t: float) -> Vitals:
        """The numerics a monitor would show at ``t`` (refreshed each second)."""
        sc = self.scenario
        second = np.array([math.floor(t)])
        jitter = [float(hash_normal(second, self.seed * 7 + k)[0]) for k in range(6)]
        return Vitals(
            hr=float(sc.hr.at(t)) + 0.7 * jitter[0],
            spo2=min(100.0, float(sc.spo2.at(t)) + 0.3 * jitter[1]),
            sbp=float(sc.sbp.at(t)) + 1.5 * jitter[2],
            dbp=float(sc.dbp.at(t)) + 1.0 * jitter[3],
            rr=float(sc.rr.at(t)) + 0.4 * jitter[4],
            temp_c=float(sc.temp_c.at(t)) + 0.02 * jitter[5],
            acvpu=sc.acvpu_at(t),
            supplemental_o2=sc.o2_at(t),
        )

    # Waveforms ----------------------------------------------------------

    def waveform(
        self, kind: str, t0: float, t1: float, fs: float | None = None
    ) -> tuple[np.ndarray, float]:
        """Samples of ``kind`` on the grid ``k / fs`` within ``[t0, t1)``.

        ``kind`` is ``"ecg"`` (lead II, mV), ``"ecg_<lead>"`` for any of the
        12 leads, ``"pleth"`` (0..1) or ``"resp"`` (0..1). ``fs`` defaults
        to 250, 125 and 25 Hz respectively.
        """
        recent = self._recent.get(kind) if fs is None else None
        if recent is not None and math.isfinite(t0 + t1):
            rate, origin, block = recent
            first, stop = math.ceil(t0 * rate) - origin, math.ceil(t1 * rate) - origin
            if 0 <= first < stop <= len(block):
                return block[first:stop].copy(), rate
        base = "ecg" if kind.startswith("ecg") else kind
        if base not in DEFAULT_FS or (kind != "ecg" and kind not in KINDS):
            raise ValueError(f"unknown waveform kind {kind!r}; try {KINDS}")
        rate = float(fs) if fs is not None else DEFAULT_FS[base]
        if not (math.isfinite(rate) and rate > 0 and math.isfinite(t0 + t1)):
            raise ValueError("fs, t0 and t1 must be finite and fs positive")
        first, stop = math.ceil(t0 * rate), math.ceil(t1 * rate)
        if stop <= first:
            return np.zeros(0), rate
        # Samples are pure functions of their index, so fixed blocks can be
        # cached: a monitor asking for one frame's worth slices a ready block.
        size = max(1, round(_BLOCK_SECONDS * rate))
        pieces = []
        for block in range(first // size, (stop - 1) // size + 1):
            samples = self._block(kind, rate, block, size)
            lo = max(first - block * size, 0)
            hi = min(stop - block * size, size)
            pieces.append(samples[lo:hi])
        if fs is None:
            self._recent[kind] = (rate, block * size, samples)
        return (pieces[0].copy() if len(pieces) == 1 else np.concatenate(pieces)), rate

    def _block(self, kind: str, rate: float, block: int, size: int) -> np.ndarray:
        key = (kind, rate, block)
        with self._lock:
            cached = self._blocks.get(key)
            if cached is not None:
                self._blocks.move_to_end(key)
                return cached
        samples = self._render(kind, rate, np.arange(block * size, (block + 1) * size))
        samples.setflags(write=False)
        with self._lock:
            self._blocks[key] = samples
            while len(self._blocks) > _CACHED_BLOCKS:
                self._blocks.popitem(last=False)
        return samples

    def _render(self, kind: str, rate: float, index: np.ndarray) -> np.ndarray:
        times = index / rate
        t0, t1 = float(times[0]), float(times[-1])
        if kind == "resp":
            return self._resp(times)
        beats, rr = self._beats(t0 - 1.0, t1 + 1.2)
        if kind == "pleth":
            return self._pleth(times, beats, rr)
        lead = kind.removeprefix("ecg_") if kind != "ecg" else "II"
        st = np.asarray(self.scenario.st_mv.at(np.maximum(beats, 0.0)))
        offsets, widths, amps = beat_waves(lead, rr, st)
        ecg = render_beats(times, beats, offsets, widths, amps)
        return ecg + self._ecg_artefact(lead, index, times)

    def _ecg_artefact(
        self, lead: str, index: np.ndarray, times: np.ndarray
    ) -> np.ndarray:
        """Baseline wander with breathing plus electrode noise, in mV."""
        breath = 2.0 * np.pi * self.resp_cycles(times)
        weights = LIMB.get(lead)
        if weights is None:
            key = LEAD_NAMES.index(lead)
            return 0.04 * np.sin(breath + key) + 0.01 * hash_normal(
                index, self.seed * 31 + key
            )
        # Limb leads mix the same two electrode signals (Einthoven's triangle).
        a, b = weights
        wander = 0.03 * a * np.sin(breath + 0.4) + 0.04 * b * np.sin(breath)
        noise = a * hash_normal(index, self.seed * 31 + 100) + b * hash_normal(
            index, self.seed * 31 + 101
        )
        return wander + 0.01 * noise

    def _resp(self, times: np.ndarray) -> np.ndarray:
        phase = 2.0 * np.pi * self.resp_cycles(times)
        # Inspiration a little quicker than expiration, as on impedance traces.
        return 0.5 - 0.45 * np.cos(phase) + 0.05 * np.sin(2.0 * phase)

    def _pleth(
        self, times: np.ndarray, beats: np.ndarray, rr: np.ndarray
    ) -> np.ndarray:
        stretch = np.sqrt(np.clip(rr, 0.3, 2.0))[:, None]
        # Pulse arrives ~0.2 s after the R peak; systolic peak then dicrotic wave.
        offsets = np.array([0.30, 0.62]) * np.concatenate(
            [np.ones_like(stretch), stretch], axis=1
        )
        widths = np.array([0.065, 0.085]) * np.ones((len(beats), 1))
        perfusion = np.asarray(self.scenario.perfusion.at(np.maximum(beats, 0.0)))
        amps = np.array([1.0, 0.4]) * perfusion[:, None]
        wave = render_beats(times, beats, offsets, widths, amps, (-0.1, 1.2))
        breathing = 1.0 + 0.08 * np.sin(2.0 * np.pi * self.resp_cycles(times))
        return np.clip(0.08 + 0.72 * wave * breathing, 0.0, 1.0)
