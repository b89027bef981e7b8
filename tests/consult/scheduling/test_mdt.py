"""MDT search: earliest common slots with distinct people, against a brute force."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from consult.scheduling.availability import contains, merge
from consult.scheduling.mdt import find_common_slots

BASE = datetime(2026, 6, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)


def _free(minutes: list[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
    return merge(
        (BASE + timedelta(minutes=a), BASE + timedelta(minutes=b)) for a, b in minutes
    )


def _brute(seats, free, duration, horizon, limit):  # type: ignore[no-untyped-def]
    found = []
    for k in range(0, horizon, 15):
        start = BASE + timedelta(minutes=k)
        end = start + duration
        options = [
            [c for c in seat if contains(free.get(c, []), start, end)] for seat in seats
        ]
        for combo in itertools.product(*options):
            if len(set(combo)) == len(combo):
                found.append(start)
                break
        if len(found) == limit:
            break
    return found


def test_two_specialists_meet_in_their_overlap() -> None:
    """A free 9-11 and B free 10-12 meet at 10:00 for an hour."""
    free = {"a": _free([(540, 660)]), "b": _free([(600, 720)])}
    (slot,) = find_common_slots([["a"], ["b"]], free, timedelta(hours=1), STEP, limit=1)
    assert (slot.start, slot.assignment) == (BASE + timedelta(hours=10), ("a", "b"))


def test_one_person_cannot_fill_two_seats() -> None:
    """'Any radiologist' plus a named radiologist needs a second radiologist."""
    free = {"r1": _free([(540, 600)])}
    assert find_common_slots([["r1"], ["r1"]], free, timedelta(minutes=30), STEP) == []


def test_department_seat_picks_whoever_is_free() -> None:
    """A department seat is filled by the member free at that time."""
    free = {
        "cardio": _free([(540, 600)]),
        "r1": _free([(0, 30)]),
        "r2": _free([(540, 600)]),
    }
    (slot,) = find_common_slots(
        [["cardio"], ["r1", "r2"]], free, timedelta(minutes=30), STEP, limit=1
    )
    assert slot.assignment == ("cardio", "r2")


def test_results_are_earliest_first_and_limited() -> None:
    """Slots come in time order and stop at the limit."""
    free = {"a": _free([(0, 600)]), "b": _free([(0, 600)])}
    slots = find_common_slots(
        [["a"], ["b"]], free, timedelta(minutes=30), STEP, limit=5
    )
    assert [s.start for s in slots] == [
        BASE + timedelta(minutes=15 * i) for i in range(5)
    ]


people = st.sampled_from(["p1", "p2", "p3", "p4", "p5"])
schedules = st.dictionaries(
    people,
    st.lists(
        st.tuples(st.integers(0, 700), st.integers(15, 240)).map(
            lambda t: (t[0], t[0] + t[1])
        ),
        max_size=4,
    ),
)
seat_lists = st.lists(
    st.lists(people, min_size=1, max_size=3, unique=True), min_size=1, max_size=4
)


@settings(max_examples=300, deadline=None)
@given(schedules, seat_lists, st.sampled_from([15, 30, 45, 60]), st.integers(1, 6))
def test_search_matches_brute_force(schedule, seats, minutes, limit) -> None:  # type: ignore[no-untyped-def]
    """Random diaries and seats: the search returns exactly the brute force's starts."""
    free = {person: _free(ranges) for person, ranges in schedule.items()}
    duration = timedelta(minutes=minutes)
    found = find_common_slots(seats, free, duration, STEP, limit=limit)
    assert [s.start for s in found] == _brute(seats, free, duration, 1000, limit)
    for slot in found:
        assert len(set(slot.assignment)) == len(seats)
        assert all(contains(free[p], slot.start, slot.end) for p in slot.assignment)
