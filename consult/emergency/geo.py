"""Distances and ETA from the ambulance's position to the destination."""

from __future__ import annotations

import math
from collections.abc import Sequence

EARTH_RADIUS_M = 6_371_000.0
# Road distance is longer than the great circle; 1.3 is the usual urban detour.
ROAD_FACTOR = 1.3
# Speeds for the ETA, metres per second: the recent average, clamped.
DEFAULT_SPEED = 11.0  # about 40 km/h through traffic
MIN_SPEED, MAX_SPEED = 6.0, 30.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def eta_seconds(distance_m: float, recent_speeds: Sequence[float | None]) -> float:
    """Seconds to cover ``distance_m`` of straight line by road.

    The speed is the mean of the recent plausible speeds (stopped or missing
    readings ignored), clamped so that a red light or a GPS spike does not
    swing the ETA; with no reading, ``DEFAULT_SPEED``.
    """
    moving = [s for s in recent_speeds if s is not None and 1.0 <= s <= 70.0]
    speed = sum(moving) / len(moving) if moving else DEFAULT_SPEED
    speed = min(MAX_SPEED, max(MIN_SPEED, speed))
    return distance_m * ROAD_FACTOR / speed


def interpolate(
    start: tuple[float, float], end: tuple[float, float], fraction: float
) -> tuple[float, float]:
    """A point ``fraction`` (0..1) of the way from ``start`` to ``end``."""
    f = min(1.0, max(0.0, fraction))
    return start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f
