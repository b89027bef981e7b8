"""NTP-style clock offset estimation."""

from __future__ import annotations

import numpy as np
import pytest

from media_core.clock import ClockOffsetEstimator, ClockSample, glass_to_glass_ms

TRUE_OFFSET = 12_345.678  # server clock minus client clock, ms


def _exchange(t0: float, up: float, hold: float, down: float) -> ClockSample:
    """A ping sent at client time t0 with the given one-way delays (ms)."""
    t1 = t0 + up + TRUE_OFFSET
    t2 = t1 + hold
    t3 = t2 - TRUE_OFFSET + down
    return ClockSample(t0, t1, t2, t3)


def test_symmetric_sample_gives_exact_offset_and_rtt() -> None:
    """Equal one-way delays give the exact offset and the network RTT."""
    sample = _exchange(1000.0, 20.0, 5.0, 20.0)
    assert sample.offset == pytest.approx(TRUE_OFFSET)
    assert sample.rtt == pytest.approx(40.0)


def test_asymmetric_jitter_recovered_within_half_rtt() -> None:
    """With random asymmetric delays the estimate lies within its RTT/2 bound."""
    rng = np.random.default_rng(5)
    estimator = ClockOffsetEstimator(window=32)
    for i in range(200):
        up = 5 + rng.exponential(30)
        down = 5 + rng.exponential(3)
        estimate = estimator.add(_exchange(i * 1000.0, up, rng.uniform(0, 2), down))
        assert abs(estimate.offset - TRUE_OFFSET) <= estimate.uncertainty + 1e-9


def test_min_rtt_filter_picks_best_sample() -> None:
    """The sample with the smallest RTT in the window sets the estimate."""
    estimator = ClockOffsetEstimator(window=8)
    estimator.add(_exchange(0.0, 80.0, 1.0, 10.0))
    best = _exchange(100.0, 6.0, 1.0, 4.0)
    estimator.add(best)
    estimate = estimator.add(_exchange(200.0, 10.0, 1.0, 90.0))
    assert estimate.offset == pytest.approx(best.offset)
    assert estimate.rtt == pytest.approx(10.0)
    assert estimate.uncertainty == pytest.approx(5.0)


def test_window_forgets_old_best_sample() -> None:
    """A good sample that slid out of the window no longer counts."""
    estimator = ClockOffsetEstimator(window=2)
    estimator.add(_exchange(0.0, 1.0, 0.0, 1.0))
    estimator.add(_exchange(1.0, 30.0, 0.0, 30.0))
    estimate = estimator.add(_exchange(2.0, 40.0, 0.0, 20.0))
    assert estimate.rtt == pytest.approx(60.0)


def test_negative_rtt_is_rejected() -> None:
    """A sample whose server hold exceeds the round trip is impossible."""
    with pytest.raises(ValueError, match="inconsistent"):
        ClockOffsetEstimator().add(ClockSample(0.0, 10.0, 50.0, 20.0))


def test_estimate_is_none_before_samples() -> None:
    """No sample, no estimate."""
    assert ClockOffsetEstimator().estimate() is None


def test_glass_to_glass_uses_offset() -> None:
    """Receive time on the client clock plus offset minus capture time."""
    assert glass_to_glass_ms(1_000.0, 500.0, 1_420.0) == pytest.approx(80.0)
