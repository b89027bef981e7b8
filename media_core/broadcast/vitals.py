"""The composite feed's vitals layer: the vitals panel as a live, updatable layer.

``VitalsOverlay`` draws ``media_core.vitals.VitalsLayer`` from either the
simulator (a named scenario, starting when the overlay first draws) or
numerics the web tier pushes with ``update({"numerics": {...}})`` (no
waveforms then: the strips stay empty). It records the numerics on the
recording's timeline about once a second. ``vitals_layer`` is the default
``"vitals"`` factory of the media worker.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from media_core.canvas import YuvCanvas
from media_core.layers import TimelineEvent
from media_core.vitals import (
    ACVPU_LEVELS,
    SCENARIOS,
    Vitals,
    VitalsFeed,
    VitalsLayer,
    VitalsSimulator,
    news2,
)
from media_core.vitals.simulator import DEFAULT_FS

logger = logging.getLogger(__name__)

CORNERS = ("bottom-left", "bottom-right", "top-left", "top-right")
_NUMERIC_FIELDS = ("hr", "spo2", "sbp", "dbp", "rr", "temp_c")
_SPEC_FIELDS = frozenset({"kind", "scenario", "corner", "seed"})


class _ScenarioFeed:
    """The simulator with its clock started at media time ``start`` (whole s).

    A whole-second shift keeps every waveform's sample grid ``k / fs`` on the
    same grid in media time, which ``VitalsFeed.waveform`` promises.
    """

    def __init__(self, simulator: VitalsSimulator, start: float) -> None:
        self.simulator = simulator
        self.start = float(math.floor(start))

    def numerics_at(self, t: float) -> Vitals:
        """The simulator's numerics ``t - start`` seconds into the scenario."""
        return self.simulator.numerics_at(t - self.start)

    def waveform(
        self, kind: str, t0: float, t1: float, fs: float | None = None
    ) -> tuple[np.ndarray, float]:
        """The simulator's samples, shifted to media time."""
        return self.simulator.waveform(kind, t0 - self.start, t1 - self.start, fs)


class _PushedFeed:
    """Numerics pushed by the web tier; no waveforms."""

    def __init__(self, vitals: Vitals) -> None:
        self.vitals = vitals

    def numerics_at(self, t: float) -> Vitals:
        """The latest pushed numerics, whatever ``t``."""
        return self.vitals

    def waveform(
        self, kind: str, t0: float, t1: float, fs: float | None = None
    ) -> tuple[np.ndarray, float]:
        """No samples (the strips stay blank)."""
        return np.zeros(0), float(fs or DEFAULT_FS.get(kind[:3], 250.0))


class VitalsOverlay:
    """A vitals panel for the composite feed (``Layer``, updatable, on the timeline).

    ``scenario`` names a simulator scenario (``None``: wait for pushed
    numerics). ``update`` takes ``{"scenario": name}`` (restart the
    simulator) or ``{"numerics": {"hr", "spo2", "sbp", "dbp", "rr",
    "temp_c": number or null, "acvpu": "A".."U" or null,
    "supplemental_o2": bool or null}}``; anything else raises ``ValueError``.
    """

    def __init__(
        self,
        scenario: str | None = "stable",
        *,
        corner: str = "bottom-left",
        seed: int = 0,
    ) -> None:
        if scenario is not None and scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; try {sorted(SCENARIOS)}")
        if corner not in CORNERS:
            raise ValueError(f"corner must be one of {CORNERS}")
        self.seed = seed
        self._scenario = scenario
        self._lock = threading.Lock()
        # The simulator's clock starts at the first frame the overlay draws.
        self._pending_start = scenario is not None
        self._feed: VitalsFeed = _PushedFeed(Vitals())
        self._layer = VitalsLayer(self._feed, corner=corner)
        self._last_second: int | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> VitalsOverlay:
        """``{"kind": "vitals", "scenario"?: name | null, "corner"?, "seed"?}``."""
        unknown = sorted(set(spec) - _SPEC_FIELDS)
        if unknown:
            raise ValueError(f"unknown vitals layer field(s): {', '.join(unknown)}")
        scenario = spec.get("scenario", "stable")
        if scenario is not None and not isinstance(scenario, str):
            raise ValueError("scenario must be a string or null")
        corner = spec.get("corner", "bottom-left")
        seed = spec.get("seed", 0)
        if not isinstance(corner, str):
            raise ValueError("corner must be a string")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("seed must be an integer")
        return cls(scenario, corner=corner, seed=seed)

    @property
    def feed(self) -> VitalsFeed:
        """Where the panel's numerics and waveforms come from now."""
        return self._feed

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        """Paint the panel for media time ``timestamp`` (compositor thread)."""
        with self._lock:
            if self._pending_start and self._scenario is not None:
                self._pending_start = False
                simulator = VitalsSimulator(self._scenario, self.seed)
                self._feed = _ScenarioFeed(simulator, timestamp)
            feed = self._feed
        self._layer.feed = feed
        self._layer.draw(canvas, timestamp)

    def update(self, data: Mapping[str, Any]) -> None:
        """Switch scenario or push numerics (see the class doc)."""
        if not isinstance(data, Mapping) or len(data) != 1:
            raise ValueError('vitals data is {"scenario": ...} or {"numerics": {...}}')
        if "scenario" in data:
            scenario = data["scenario"]
            if not isinstance(scenario, str) or scenario not in SCENARIOS:
                raise ValueError(f"unknown scenario; try {sorted(SCENARIOS)}")
            with self._lock:
                self._scenario, self._pending_start = scenario, True
            return
        if "numerics" not in data:
            raise ValueError('vitals data is {"scenario": ...} or {"numerics": {...}}')
        vitals = parse_numerics(data["numerics"])
        with self._lock:
            self._scenario, self._pending_start = None, False
            self._feed = _PushedFeed(vitals)

    def timeline_event(self, timestamp: float, origin: float) -> TimelineEvent | None:
        """The numerics once per second of media time (event loop)."""
        second = math.floor(timestamp)
        if second == self._last_second:
            return None
        self._last_second = second
        vitals = self._feed.numerics_at(timestamp)
        return TimelineEvent(timestamp, "vitals", {"numerics": numerics_dict(vitals)})


def parse_numerics(value: object) -> Vitals:
    """Validate pushed numerics into ``Vitals``; ``ValueError`` if anything is off."""
    if not isinstance(value, Mapping):
        raise ValueError("numerics must be an object")
    allowed = {*_NUMERIC_FIELDS, "acvpu", "supplemental_o2"}
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValueError(f"unknown numerics field(s): {', '.join(unknown)}")
    fields: dict[str, Any] = {}
    for name in _NUMERIC_FIELDS:
        number = value.get(name)
        if number is None:
            continue
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
            or not 0 <= number <= 400
        ):
            raise ValueError(f"{name} must be a number in 0..400 or null")
        fields[name] = float(number)
    acvpu = value.get("acvpu")
    if acvpu is not None and acvpu not in ACVPU_LEVELS:
        raise ValueError(f"acvpu must be one of {ACVPU_LEVELS} or null")
    o2 = value.get("supplemental_o2")
    if o2 is not None and not isinstance(o2, bool):
        raise ValueError("supplemental_o2 must be true, false or null")
    return Vitals(acvpu=acvpu, supplemental_o2=o2, **fields)


def numerics_dict(vitals: Vitals) -> dict[str, Any]:
    """JSON-safe numerics (rounded, NaN as null) with the NEWS2 total and band."""
    out: dict[str, Any] = {}
    for name in _NUMERIC_FIELDS:
        value = getattr(vitals, name)
        ok = value is not None and math.isfinite(float(value))
        out[name] = round(float(value), 1) if ok else None
    out["acvpu"] = vitals.acvpu
    out["supplemental_o2"] = vitals.supplemental_o2
    score = news2(vitals)
    out["news2"] = score.total
    out["news2_band"] = score.band.name.lower()
    return out


def vitals_layer(spec: Mapping[str, Any]) -> VitalsOverlay:
    """The media worker's default ``"vitals"`` layer factory."""
    return VitalsOverlay.from_spec(spec)
