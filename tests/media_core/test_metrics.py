"""Stage histograms, their JSON report and Prometheus export."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from media_core.metrics import (
    STAGES,
    MetricsRegistry,
    SessionMetrics,
    StageHistogram,
    register_collector,
)


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_quantiles_match_numpy_percentile(q: float) -> None:
    """Bucket quantiles are within 3 % of numpy's exact percentile."""
    values = np.random.default_rng(3).lognormal(2.0, 0.8, 20_000)
    hist = StageHistogram()
    for value in values:
        hist.record(float(value))
    assert hist.quantile(q) == pytest.approx(np.percentile(values, q * 100), rel=0.03)


def test_summary_reports_exact_max_and_count() -> None:
    """max and count are exact, not bucketed."""
    hist = StageHistogram()
    for value in (1.0, 2.0, 123.456):
        hist.record(value)
    summary = hist.summary()
    assert summary["count"] == 3 and summary["max"] == 123.456


def test_empty_histogram_summary_has_nones() -> None:
    """An unused stage reports count 0 and no quantiles."""
    summary = StageHistogram().summary()
    assert summary["count"] == 0 and summary["p99"] is None


def test_timer_records_elapsed_ms() -> None:
    """The time() context manager records the body's duration in ms."""
    metrics = SessionMetrics("s")
    with metrics.time("draw"):
        time.sleep(0.02)
    value = metrics.stage("draw").quantile(0.5)
    assert value is not None and 15 <= value <= 200


def test_report_is_json_with_every_stage() -> None:
    """The per-session report serialises and lists all pipeline stages."""
    metrics = SessionMetrics("room-1")
    metrics.record("encode", 12.5)
    metrics.incr("frames_dropped", 2)
    report = json.loads(json.dumps(metrics.report()))
    assert set(STAGES) <= set(report["stages"])
    assert report["stages"]["encode"]["buckets"][0]["count"] == 1
    assert report["events"] == {"frames_dropped": 2}


def test_prometheus_exposition_contains_stages() -> None:
    """The collector exports histograms and quantiles by session and stage."""
    registry = MetricsRegistry()
    registry.session("feed-7").record("decode", 4.0)
    registry.session("feed-7").incr("packets_dropped_out")
    prometheus = CollectorRegistry()
    register_collector(registry, prometheus)
    text = generate_latest(prometheus).decode()
    for stage in STAGES:
        assert f'session="feed-7",stage="{stage}"' in text
    assert 'media_stage_seconds_count{session="feed-7",stage="decode"} 1.0' in text
    assert "media_stage_quantile_seconds" in text
    assert 'media_events_total{event="packets_dropped_out",session="feed-7"}' in text


def test_removed_session_is_no_longer_exported() -> None:
    """remove() returns the session's metrics and drops it from the export."""
    registry = MetricsRegistry()
    registry.session("gone").record("send", 1.0)
    assert registry.remove("gone") is not None
    assert registry.sessions() == []
