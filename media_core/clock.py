"""NTP-style clock offset estimation and glass-to-glass latency.

All times are milliseconds (floats are fine). ``offset`` is defined as
``server_clock - client_clock``: adding it to a client time gives the same
instant on the server's clock. The websocket layer sends a ping at ``t0``
(client clock), the server stamps receive ``t1`` and send ``t2`` (server clock),
and the client notes the reply at ``t3`` (client clock).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One ping exchange: t0/t3 on the client clock, t1/t2 on the server's (ms)."""

    t0: float
    t1: float
    t2: float
    t3: float

    @property
    def offset(self) -> float:
        """``server - client`` offset in ms; exact when both paths take equal time."""
        return ((self.t1 - self.t0) + (self.t2 - self.t3)) / 2

    @property
    def rtt(self) -> float:
        """Network round-trip time in ms, excluding the server's hold time."""
        return (self.t3 - self.t0) - (self.t2 - self.t1)


@dataclass(frozen=True, slots=True)
class OffsetEstimate:
    """The best current offset (ms) and its worst-case error bound, ``rtt / 2``."""

    offset: float
    uncertainty: float
    rtt: float
    samples: int


class ClockOffsetEstimator:
    """Min-RTT filter over the last ``window`` samples.

    The sample with the smallest RTT has the least room for path asymmetry, so
    its offset is the best: the true offset lies within ``rtt / 2`` of it.
    """

    def __init__(self, window: int = 16) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._samples: deque[ClockSample] = deque(maxlen=window)

    def add(self, sample: ClockSample) -> OffsetEstimate:
        """Add one exchange and return the updated estimate.

        Raises ``ValueError`` for an impossible sample (negative RTT or server
        hold time), which means a clock stepped or the fields are mixed up.
        """
        if sample.t2 < sample.t1 or sample.rtt < 0:
            raise ValueError(f"inconsistent clock sample {sample!r}")
        self._samples.append(sample)
        estimate = self.estimate()
        assert estimate is not None  # noqa: S101 - a sample was just added
        return estimate

    def add_times(self, t0: float, t1: float, t2: float, t3: float) -> OffsetEstimate:
        """``add`` from the four raw timestamps."""
        return self.add(ClockSample(t0, t1, t2, t3))

    def estimate(self) -> OffsetEstimate | None:
        """The current estimate, or ``None`` before the first sample."""
        if not self._samples:
            return None
        best = min(self._samples, key=lambda s: s.rtt)
        return OffsetEstimate(best.offset, best.rtt / 2, best.rtt, len(self._samples))

    def reset(self) -> None:
        """Forget every sample (e.g. after a reconnect or a clock step)."""
        self._samples.clear()


def to_server_time(client_ms: float, offset: float) -> float:
    """Convert a client-clock time to the server clock with ``offset``."""
    return client_ms + offset


def glass_to_glass_ms(receive_ms: float, offset: float, capture_ms: float) -> float:
    """Latency from capture (server clock) to display ``receive_ms`` (client clock)."""
    return receive_ms + offset - capture_ms
