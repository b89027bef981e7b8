"""Availability expansion is DST-correct; interval arithmetic matches a brute force."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consult.scheduling.availability import (
    Override,
    WeeklyWindow,
    contains,
    expand,
    free_intervals,
    intersect,
    merge,
    slot_starts,
    subtract,
)

LONDON, NEW_YORK = "Europe/London", "America/New_York"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _window(weekday: int, start: str, end: str, zone: str) -> WeeklyWindow:
    return WeeklyWindow(
        weekday,
        time.fromisoformat(start),
        time.fromisoformat(end),
        zone,
        date(2020, 1, 1),
    )


@pytest.mark.parametrize(
    ("zone", "day", "expected_utc_hour"),
    [
        (LONDON, date(2026, 3, 27), 9),  # Friday before spring forward: GMT
        (LONDON, date(2026, 3, 30), 8),  # Monday after: BST
        (LONDON, date(2026, 10, 23), 8),  # Friday before autumn back: BST
        (LONDON, date(2026, 10, 26), 9),  # Monday after: GMT
        (NEW_YORK, date(2026, 3, 6), 14),  # EST
        (NEW_YORK, date(2026, 3, 9), 13),  # EDT
        (NEW_YORK, date(2026, 10, 30), 13),  # EDT
        (NEW_YORK, date(2026, 11, 2), 14),  # EST
    ],
)
def test_nine_oclock_stays_nine_oclock_across_dst(
    zone: str, day: date, expected_utc_hour: int
) -> None:
    """A 09:00 local window maps to the UTC hour of that date's offset."""
    window = _window(day.weekday(), "09:00", "12:00", zone)
    start = datetime.combine(day, time(0), tzinfo=UTC)
    occurrences = expand([window], start, start + timedelta(days=1))
    assert occurrences[0][0] == datetime.combine(
        day, time(expected_utc_hour), tzinfo=UTC
    )


def test_window_across_the_spring_gap_is_an_hour_shorter() -> None:
    """01:00-03:00 on the London spring-forward night lasts one real hour."""
    sunday = date(2026, 3, 29)
    window = _window(sunday.weekday(), "01:00", "03:00", LONDON)
    ((start, end),) = expand([window], _utc(2026, 3, 28), _utc(2026, 3, 30))
    assert end - start == timedelta(hours=1)


def test_window_across_the_autumn_repeat_is_an_hour_longer() -> None:
    """00:30-02:30 on the New York fall-back night lasts three real hours."""
    sunday = date(2026, 11, 1)
    window = _window(sunday.weekday(), "00:30", "02:30", NEW_YORK)
    ((start, end),) = expand([window], _utc(2026, 10, 31), _utc(2026, 11, 3))
    assert end - start == timedelta(hours=3)


def test_weekly_rule_recurs_only_on_its_weekday_within_validity() -> None:
    """A Tuesday rule valid for two weeks yields exactly two occurrences."""
    rule = WeeklyWindow(
        1, time(9), time(17), LONDON, date(2026, 6, 1), date(2026, 6, 14)
    )
    occurrences = expand([rule], _utc(2026, 5, 1), _utc(2026, 7, 1))
    assert [s.astimezone(ZoneInfo(LONDON)).date() for s, _ in occurrences] == [
        date(2026, 6, 2),
        date(2026, 6, 9),
    ]


def test_leave_removes_time_and_an_extra_session_adds_it() -> None:
    """Leave cuts a window; an extra session on a free day adds bookable time."""
    monday = date(2026, 6, 1)
    window = _window(monday.weekday(), "09:00", "17:00", "UTC")
    leave = Override(_utc(2026, 6, 1, 12), _utc(2026, 6, 1, 14), adds=False)
    extra = Override(_utc(2026, 6, 6, 10), _utc(2026, 6, 6, 12), adds=True)
    free = free_intervals(
        [window], [leave, extra], [], _utc(2026, 6, 1), _utc(2026, 6, 7)
    )
    assert free == [
        (_utc(2026, 6, 1, 9), _utc(2026, 6, 1, 12)),
        (_utc(2026, 6, 1, 14), _utc(2026, 6, 1, 17)),
        (_utc(2026, 6, 6, 10), _utc(2026, 6, 6, 12)),
    ]


def test_a_public_holiday_removes_the_whole_day() -> None:
    """A holiday override over the day leaves nothing bookable."""
    window = _window(0, "09:00", "17:00", LONDON)
    holiday = Override(
        _utc(2026, 5, 24, 23), _utc(2026, 5, 25, 23), adds=False
    )  # Spring bank holiday
    assert (
        free_intervals([window], [holiday], [], _utc(2026, 5, 25), _utc(2026, 5, 26))
        == []
    )


def test_slots_follow_the_grid_and_fit_the_duration() -> None:
    """30-minute slots on a 15-minute grid in 09:10-10:00 start at 09:15 and 09:30."""
    free = [(_utc(2026, 6, 1, 9, 10), _utc(2026, 6, 1, 10))]
    starts = list(slot_starts(free, timedelta(minutes=30), timedelta(minutes=15)))
    assert starts == [_utc(2026, 6, 1, 9, 15), _utc(2026, 6, 1, 9, 30)]


# Property tests against a minute-by-minute reference.
BASE = _utc(2026, 1, 1)
minute_intervals = st.lists(
    st.tuples(st.integers(0, 600), st.integers(1, 120)).map(
        lambda t: (t[0], t[0] + t[1])
    ),
    max_size=8,
)


def _dt(intervals: list[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
    return [
        (BASE + timedelta(minutes=a), BASE + timedelta(minutes=b)) for a, b in intervals
    ]


def _minutes(intervals: list[tuple[datetime, datetime]]) -> set[int]:
    out: set[int] = set()
    for start, end in intervals:
        out.update(
            range(
                int((start - BASE).total_seconds() // 60),
                int((end - BASE).total_seconds() // 60),
            )
        )
    return out


@settings(max_examples=200)
@given(minute_intervals, minute_intervals)
def test_interval_algebra_matches_sets_of_minutes(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    """merge, subtract and intersect match set union, difference and intersection."""
    da, db = _dt(a), _dt(b)
    assert _minutes(merge(da)) == _minutes(da)
    assert _minutes(subtract(merge(da), db)) == _minutes(da) - _minutes(db)
    assert _minutes(intersect(merge(da), merge(db))) == _minutes(da) & _minutes(db)


@settings(max_examples=200)
@given(minute_intervals, st.integers(0, 700), st.integers(1, 90))
def test_contains_matches_the_reference(
    a: list[tuple[int, int]], start: int, length: int
) -> None:
    """``contains`` is true exactly when every minute of the range is free."""
    free = merge(_dt(a))
    expected = set(range(start, start + length)) <= _minutes(free)
    assert (
        contains(
            free,
            BASE + timedelta(minutes=start),
            BASE + timedelta(minutes=start + length),
        )
        == expected
    )
