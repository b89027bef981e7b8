"""Earliest common slots for a multidisciplinary meeting (pure, no database).

Each *seat* is filled by one of its candidates (a named specialist, or anyone
of a department). A start time qualifies when every seat has a candidate free
for the whole duration and the seats can be given to distinct people.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from consult.scheduling.availability import (
    Interval,
    contains,
    intersect,
    merge,
    slot_starts,
)


@dataclass(frozen=True, slots=True)
class MdtSlot:
    """A start time and who fills each seat, in seat order."""

    start: datetime
    end: datetime
    assignment: tuple[Hashable, ...]


def _assign(options: list[list[Hashable]]) -> tuple[Hashable, ...] | None:
    """Distinct candidates, one per seat (backtracking; seats are few)."""
    order = sorted(range(len(options)), key=lambda i: len(options[i]))
    chosen: dict[int, Hashable] = {}
    used: set[Hashable] = set()

    def place(k: int) -> bool:
        if k == len(order):
            return True
        seat = order[k]
        for candidate in options[seat]:
            if candidate not in used:
                chosen[seat] = candidate
                used.add(candidate)
                if place(k + 1):
                    return True
                used.discard(candidate)
        return False

    if not place(0):
        return None
    return tuple(chosen[i] for i in range(len(options)))


def common_windows(
    seats: Sequence[Sequence[Hashable]], free: dict[Hashable, list[Interval]]
) -> list[Interval]:
    """Where every seat has at least one candidate free (a superset of any answer)."""
    if not seats or any(not seat for seat in seats):
        return []
    unions = [merge(iv for c in seat for iv in free.get(c, ())) for seat in seats]
    common = unions[0]
    for union in unions[1:]:
        common = intersect(common, union)
    return common


def find_common_slots(
    seats: Sequence[Sequence[Hashable]],
    free: dict[Hashable, list[Interval]],
    duration: timedelta,
    step: timedelta,
    limit: int = 10,
) -> list[MdtSlot]:
    """Up to ``limit`` earliest starts where distinct people can fill every seat.

    ``free`` maps each candidate to their sorted, merged free intervals.
    """
    common = common_windows(seats, free)
    results: list[MdtSlot] = []
    for start in slot_starts(common, duration, step):
        end = start + duration
        options = [
            [c for c in seat if contains(free.get(c, []), start, end)] for seat in seats
        ]
        if any(not o for o in options):
            continue
        assignment = _assign(options)
        if assignment is not None:
            results.append(MdtSlot(start, end, assignment))
            if len(results) >= limit:
                break
    return results
