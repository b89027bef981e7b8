"""Pure interval arithmetic over availability, in UTC (no Django, no database).

Weekly windows are wall-clock times in an IANA zone; each occurrence is turned
into UTC on its own date, so windows follow daylight-saving changes. A local
time that does not exist (the spring-forward gap) maps forward past the gap;
an ambiguous one (autumn fall-back) takes its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """A recurring window: ``weekday`` (0 = Monday) from ``start`` to ``end`` local."""

    weekday: int
    start: time
    end: time
    time_zone: str
    valid_from: date
    valid_until: date | None = None


@dataclass(frozen=True, slots=True)
class Override:
    """A one-off change in UTC: ``adds`` time (extra session) or removes it (leave)."""

    starts_at: datetime
    ends_at: datetime
    adds: bool


def local_to_utc(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``moment`` on ``day`` in ``zone``."""
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of ``intervals`` (touching ones are joined)."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def subtract(base: list[Interval], removals: Iterable[Interval]) -> list[Interval]:
    """``base`` minus every removal; both sorted and merged on return."""
    result: list[Interval] = []
    cuts = merge(removals)
    j = 0
    for start, end in merge(base):
        while j < len(cuts) and cuts[j][1] <= start:
            j += 1
        k, cursor = j, start
        while k < len(cuts) and cuts[k][0] < end:
            if cuts[k][0] > cursor:
                result.append((cursor, cuts[k][0]))
            cursor = max(cursor, cuts[k][1])
            k += 1
        if cursor < end:
            result.append((cursor, end))
    return result


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Intersection of two sorted, merged interval lists."""
    result: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            result.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return result


def expand(
    windows: Iterable[WeeklyWindow], start: datetime, end: datetime
) -> list[Interval]:
    """Every occurrence of ``windows`` overlapping ``[start, end)``, clipped to it."""
    occurrences: list[Interval] = []
    for window in windows:
        zone = ZoneInfo(window.time_zone)
        # One day of margin each side covers any UTC offset.
        day = max(start.astimezone(zone).date() - timedelta(days=1), window.valid_from)
        last = end.astimezone(zone).date() + timedelta(days=1)
        if window.valid_until is not None:
            last = min(last, window.valid_until)
        day += timedelta(days=(window.weekday - day.weekday()) % 7)
        while day <= last:
            occurrences.append(
                (
                    local_to_utc(day, window.start, zone),
                    local_to_utc(day, window.end, zone),
                )
            )
            day += timedelta(days=7)
    return intersect(merge(occurrences), [(start, end)])


def free_intervals(
    windows: Iterable[WeeklyWindow],
    overrides: Iterable[Override],
    busy: Iterable[Interval],
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """Bookable time in ``[start, end)``: windows and extras, minus leave and busy."""
    overrides = list(overrides)
    available = merge(
        expand(windows, start, end)
        + [(o.starts_at, o.ends_at) for o in overrides if o.adds]
    )
    removed = [(o.starts_at, o.ends_at) for o in overrides if not o.adds]
    return intersect(subtract(subtract(available, removed), busy), [(start, end)])


def align_up(moment: datetime, step: timedelta) -> datetime:
    """The first multiple of ``step`` since the Unix epoch at or after ``moment``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    steps = -((epoch - moment) // step)
    return epoch + steps * step


def slot_starts(
    free: Iterable[Interval], duration: timedelta, step: timedelta
) -> Iterator[datetime]:
    """Starts on the ``step`` grid whose whole ``duration`` fits in a free interval."""
    for start, end in free:
        slot = align_up(start, step)
        while slot + duration <= end:
            yield slot
            slot += step


def contains(free: list[Interval], start: datetime, end: datetime) -> bool:
    """Whether ``[start, end)`` lies inside one interval of sorted, merged ``free``."""
    lo, hi = 0, len(free)
    while lo < hi:
        mid = (lo + hi) // 2
        if free[mid][1] < end:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(free) and free[lo][0] <= start and end <= free[lo][1]
