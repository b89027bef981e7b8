"""Per-frame stage timings as cheap log-bucket histograms.

``record`` is O(1) (one log, one list increment under a lock), so it runs for
every frame of every stage. Quantiles are read from the buckets with
log-linear interpolation: about 2 % relative error with 48 buckets per decade.
Histograms export as a JSON-safe report per session and, through
``MediaMetricsCollector``, as Prometheus histograms and quantile gauges.
Everything is in milliseconds except the Prometheus export, which uses seconds.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, CollectorRegistry

logger = logging.getLogger(__name__)

#: The pipeline stages every session reports; other names are allowed too.
STAGES = ("receive", "decode", "draw", "encode", "send", "glass_to_glass")
QUANTILES = (0.5, 0.95, 0.99)

_MIN_MS = 0.01
_DECADES = 6  # 0.01 ms .. 10 s
_PER_DECADE = 48
_BUCKETS = _DECADES * _PER_DECADE
_LOG_STEP = math.log(10) / _PER_DECADE
#: Upper edge (ms) of each fine bucket; one more overflow bucket follows.
BUCKET_EDGES_MS = tuple(
    _MIN_MS * math.exp((i + 1) * _LOG_STEP) for i in range(_BUCKETS)
)
# Prometheus gets every 12th edge (4 per decade, 0.1 ms .. 10 s) to stay small.
_EXPORT_EVERY = 12
_EXPORT_FROM = _PER_DECADE - 1  # the edge at 0.1 ms


class StageHistogram:
    """A thread-safe histogram of durations in ms with fixed log-spaced buckets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0] * (_BUCKETS + 1)
        self._count = 0
        self._sum = 0.0
        self._max = 0.0
        self._min = math.inf

    @staticmethod
    def _index(ms: float) -> int:
        if ms <= _MIN_MS:
            return 0
        return min(_BUCKETS, int(math.log(ms / _MIN_MS) / _LOG_STEP))

    def record(self, ms: float) -> None:
        """Add one duration (ms); negative values count as zero."""
        ms = max(0.0, float(ms))
        i = self._index(ms)
        with self._lock:
            self._counts[i] += 1
            self._count += 1
            self._sum += ms
            if ms > self._max:
                self._max = ms
            if ms < self._min:
                self._min = ms

    @property
    def count(self) -> int:
        """Number of recorded values."""
        return self._count

    def snapshot(self) -> tuple[list[int], int, float, float, float]:
        """A consistent copy: (bucket counts, count, sum, min, max)."""
        with self._lock:
            return list(self._counts), self._count, self._sum, self._min, self._max

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) in ms, or ``None`` when empty."""
        return _quantile(*self.snapshot(), q)

    def summary(self) -> dict[str, float | int | None]:
        """count, mean, p50, p95, p99, min and max (ms)."""
        counts, count, total, lo, hi = self.snapshot()
        if not count:
            empty: dict[str, float | int | None] = dict.fromkeys(
                ("mean", "p50", "p95", "p99", "min", "max")
            )
            empty["count"] = 0
            return empty
        out: dict[str, float | int | None] = {"count": count, "mean": total / count}
        for q in QUANTILES:
            out[f"p{round(q * 100)}"] = _quantile(counts, count, total, lo, hi, q)
        out["min"], out["max"] = lo, hi
        return out


def _quantile(
    counts: list[int], count: int, total: float, lo: float, hi: float, q: float
) -> float | None:
    if not count:
        return None
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    # Same rank convention as numpy's default (linear) percentile.
    rank = q * (count - 1)
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n > rank:
            lower = _MIN_MS * math.exp(i * _LOG_STEP) if i else 0.0
            upper = BUCKET_EDGES_MS[i] if i < _BUCKETS else hi
            lower, upper = max(lower, lo), min(upper, hi)
            frac = (rank - seen + 0.5) / n
            if lower <= 0.0 or upper <= lower:
                return lower + (upper - lower) * frac
            return lower * (upper / lower) ** frac
        seen += n
    return hi


class SessionMetrics:
    """Stage histograms and event counters of one session (a room or a feed)."""

    def __init__(self, session: str) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._stages: dict[str, StageHistogram] = {s: StageHistogram() for s in STAGES}
        self._events: dict[str, int] = {}

    def stage(self, name: str) -> StageHistogram:
        """The histogram of stage ``name``, created on first use."""
        hist = self._stages.get(name)
        if hist is None:
            with self._lock:
                hist = self._stages.setdefault(name, StageHistogram())
        return hist

    def record(self, stage: str, ms: float) -> None:
        """Record one duration (ms) for ``stage``."""
        self.stage(stage).record(ms)

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        """Time the ``with`` body (``perf_counter``) and record it under ``stage``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage(stage).record((time.perf_counter() - start) * 1000)

    def incr(self, event: str, n: int = 1) -> None:
        """Count ``n`` occurrences of ``event`` (drops, errors, keyframes...)."""
        with self._lock:
            self._events[event] = self._events.get(event, 0) + n

    def events(self) -> dict[str, int]:
        """A copy of the event counters."""
        with self._lock:
            return dict(self._events)

    def stages(self) -> dict[str, StageHistogram]:
        """A copy of the stage map."""
        with self._lock:
            return dict(self._stages)

    def report(self) -> dict[str, Any]:
        """A JSON-safe report: per-stage quantiles and non-empty buckets (ms)."""
        stages: dict[str, Any] = {}
        for name, hist in self.stages().items():
            counts, *_ = hist.snapshot()
            entry: dict[str, Any] = hist.summary()
            entry["buckets"] = [
                {"le_ms": _edge(i), "count": n} for i, n in enumerate(counts) if n
            ]
            stages[name] = entry
        return {"session": self.session, "stages": stages, "events": self.events()}


def _edge(i: int) -> float | None:
    """Upper edge of fine bucket ``i`` in ms; ``None`` is the overflow bucket."""
    return round(BUCKET_EDGES_MS[i], 6) if i < _BUCKETS else None


class MetricsRegistry:
    """All live sessions' metrics in one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, SessionMetrics] = {}

    def session(self, name: str) -> SessionMetrics:
        """The metrics of session ``name``, created on first use."""
        with self._lock:
            metrics = self._sessions.get(name)
            if metrics is None:
                metrics = self._sessions[name] = SessionMetrics(name)
            return metrics

    def remove(self, name: str) -> SessionMetrics | None:
        """Stop exporting session ``name`` and return its metrics for a final report."""
        with self._lock:
            return self._sessions.pop(name, None)

    def sessions(self) -> list[SessionMetrics]:
        """A snapshot of the live sessions."""
        with self._lock:
            return list(self._sessions.values())


class MediaMetricsCollector:
    """A prometheus-client collector exporting every session's stages.

    Families: ``media_stage_seconds`` (histogram), ``media_stage_quantile_seconds``
    (gauge with a ``quantile`` label) and ``media_events_total`` (counter), all
    labelled by ``session`` and ``stage`` or ``event``.
    """

    def __init__(self, registry: MetricsRegistry) -> None:
        self._registry = registry

    def describe(self) -> list[Metric]:
        """No fixed description: sessions come and go."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Build the metric families from current snapshots."""
        hist = HistogramMetricFamily(
            "media_stage_seconds",
            "Per-frame duration of a media pipeline stage.",
            labels=["session", "stage"],
        )
        quant = GaugeMetricFamily(
            "media_stage_quantile_seconds",
            "Quantiles of a media pipeline stage duration.",
            labels=["session", "stage", "quantile"],
        )
        events = CounterMetricFamily(
            "media_events",
            "Media pipeline events (drops, errors, forced keyframes).",
            labels=["session", "event"],
        )
        for session in self._registry.sessions():
            for stage, stage_hist in session.stages().items():
                counts, count, total, lo, hi = stage_hist.snapshot()
                hist.add_metric(
                    [session.session, stage], _export_buckets(counts), total / 1000
                )
                for q in QUANTILES:
                    value = _quantile(counts, count, total, lo, hi, q)
                    if value is not None:
                        quant.add_metric([session.session, stage, str(q)], value / 1000)
            for event, n in session.events().items():
                events.add_metric([session.session, event], n)
        yield hist
        yield quant
        yield events


def _export_buckets(counts: list[int]) -> list[tuple[str, float]]:
    """Cumulative ``(le seconds, count)`` pairs on the coarse export edges."""
    out: list[tuple[str, float]] = []
    cumulative = 0
    next_export = _EXPORT_FROM
    for i, n in enumerate(counts[:_BUCKETS]):
        cumulative += n
        if i == next_export:
            out.append((f"{BUCKET_EDGES_MS[i] / 1000:.6g}", cumulative))
            next_export += _EXPORT_EVERY
    out.append(("+Inf", cumulative + counts[_BUCKETS]))
    return out


def register_collector(
    registry: MetricsRegistry, prometheus: CollectorRegistry = REGISTRY
) -> MediaMetricsCollector:
    """Register a collector for ``registry`` with a Prometheus registry."""
    collector = MediaMetricsCollector(registry)
    prometheus.register(collector)  # type: ignore[arg-type]
    return collector
