"""REMB feedback at libwebrtc's pace (a ``MediaFixes`` switch, ``remb_interval``).

aiortc 1.16's ``RemoteBitrateEstimator.add`` returns a new estimate, which the
receiver sends at once as an RTCP REMB, on every packet while its delay
detector reads "overusing": under congestion, the moment the network can
least afford it, a 6 Mbps publisher's media worker sent ~500 REMBs a second
(10 % of its event loop in ``bench/broadcast.py``, each one also waking the
sender). libwebrtc's receiver sends one at most every 200 ms, and sooner only
when the estimate falls by 3 % or more (so a drop still reaches the sender
at once). ``throttled_add`` does the same on the estimate aiortc computed.
"""

from __future__ import annotations

from typing import Any

from aiortc.rate import RemoteBitrateEstimator

#: An estimate this much lower than the last one sent goes out at once.
DROP_RATIO = 0.97

_ORIGINAL_ADD = RemoteBitrateEstimator.add


def throttled_add(interval: float) -> Any:
    """``RemoteBitrateEstimator.add`` that returns at most one estimate per
    ``interval`` seconds of arrival time, unless it fell by 3 % or more."""
    interval_ms = interval * 1000

    def add(
        self: RemoteBitrateEstimator,
        arrival_time_ms: int,
        abs_send_time: int,
        payload_size: int,
        ssrc: int,
    ) -> tuple[int, list[int]] | None:
        estimate = _ORIGINAL_ADD(
            self,
            arrival_time_ms=arrival_time_ms,
            abs_send_time=abs_send_time,
            payload_size=payload_size,
            ssrc=ssrc,
        )
        if estimate is None:
            return None
        last = getattr(self, "_remb_last", None)
        if last is not None:
            sent_at, bitrate = last
            recent = arrival_time_ms - sent_at < interval_ms
            if recent and estimate[0] > bitrate * DROP_RATIO:
                return None
        self._remb_last = (arrival_time_ms, estimate[0])  # type: ignore[attr-defined]
        return estimate

    return add
