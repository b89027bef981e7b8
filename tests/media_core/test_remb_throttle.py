"""REMB under congestion: aiortc sends one per packet, ours at libwebrtc's pace."""

from __future__ import annotations

from aiortc.rate import RemoteBitrateEstimator

from media_core.aiortc_fixes import MediaFixes
from media_core.remb_throttle import DROP_RATIO


def _congested_run() -> list[tuple[int, int | None]]:
    """6 s of 1200-byte packets every 2 ms; from 2 s to 4 s the queueing delay
    grows 0.3 ms a packet (the detector reads "overusing"), then stays high.
    Returns each packet's arrival time (ms) and the estimate ``add`` returned."""
    estimator = RemoteBitrateEstimator()
    out = []
    for i in range(3000):
        send_ms = i * 2.0
        queued = 0.3 * (i - 1000) if 1000 <= i < 2000 else (300 if i >= 2000 else 0)
        arrival = int(send_ms + 20 + queued)
        estimate = estimator.add(
            arrival_time_ms=arrival,
            abs_send_time=int(send_ms / 1000 * 2**18) & 0xFFFFFF,
            payload_size=1200,
            ssrc=1,
        )
        out.append((arrival, estimate[0] if estimate else None))
    return out


def test_stock_aiortc_sends_an_estimate_on_every_congested_packet() -> None:
    run = _congested_run()
    assert sum(1 for _, e in run if e is not None) > 800


def test_estimates_are_paced_but_drops_go_out_at_once() -> None:
    stock = _congested_run()
    fixes = MediaFixes(remb_interval=0.2)
    fixes.apply()
    try:
        paced = _congested_run()
    finally:
        fixes.revert()
    sent = [(t, e) for t, e in paced if e is not None]
    # 6 s of arrivals: about one every 200 ms at most, plus the drops.
    assert 5 <= len(sent) <= 60
    last: tuple[int, int] | None = None
    for (t, full), (_, got) in zip(stock, paced, strict=True):
        # The estimator's own state is untouched: same estimates underneath.
        if full is None:
            assert got is None
            continue
        due = last is None or t - last[0] >= 200 or full <= last[1] * DROP_RATIO
        assert got == (full if due else None)
        if due:
            last = (t, full)
    # The fall during congestion reached the sender.
    assert min(e for _, e in sent) < sent[0][1] * DROP_RATIO
