"""Reads of schedules, always scoped to the acting user's organisation."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from consult.accounts.models import Role, User
from consult.exceptions import NotFound, PermissionDenied
from consult.scheduling import availability
from consult.scheduling.availability import Interval, Override, WeeklyWindow
from consult.scheduling.mdt import MdtSlot, common_windows, find_common_slots
from consult.scheduling.models import (
    Appointment,
    AppointmentParticipant,
    AvailabilityException,
    AvailabilityRule,
    ConsultationType,
)

BOOKABLE_ROLES = (Role.SPECIALIST, Role.SURGEON)
SCHEDULING_ROLES = frozenset({Role.NURSE, Role.SPECIALIST, Role.SURGEON})
SLOT_STEP = timedelta(minutes=15)
MAX_SEARCH_DAYS = 120
# Above this many candidate windows, load bookings for the whole range at once.
MAX_BUSY_SPANS = 200


def require_scheduler(actor: Any) -> None:
    """Only coordinators and clinicians with diaries work with schedules."""
    if not actor.is_authenticated or actor.role not in SCHEDULING_ROLES:
        raise PermissionDenied()


def practitioners(actor: Any) -> QuerySet[User]:
    """Bookable clinicians of the actor's organisation."""
    require_scheduler(actor)
    return User.objects.filter(
        organisation_id=actor.organisation_id, role__in=BOOKABLE_ROLES, is_active=True
    ).select_related("department")


def practitioner_get(actor: Any, practitioner_id: object) -> User:
    """One bookable clinician of the actor's organisation, or ``NotFound``."""
    try:
        pk = int(str(practitioner_id))
    except ValueError as exc:
        raise NotFound() from exc
    practitioner = practitioners(actor).filter(pk=pk).first()
    if practitioner is None:
        raise NotFound()
    return practitioner


def consultation_type_get(actor: Any, type_id: object) -> ConsultationType:
    """A consultation type of the actor's organisation, or ``NotFound``."""
    try:
        pk = int(str(type_id))
    except ValueError as exc:
        raise NotFound() from exc
    found = ConsultationType.objects.filter(
        pk=pk, organisation_id=actor.organisation_id
    ).first()
    if found is None:
        raise NotFound()
    return found


def busy_intervals(
    practitioner_ids: Iterable[int], spans: Sequence[Interval]
) -> dict[int, list[Interval]]:
    """Active bookings overlapping any of ``spans``, per practitioner."""
    if not spans:
        return {}
    overlap = Q()
    for start, end in spans:
        overlap |= Q(starts_at__lt=end, ends_at__gt=start)
    busy: dict[int, list[Interval]] = {}
    rows = AppointmentParticipant.objects.filter(
        overlap, practitioner_id__in=list(practitioner_ids), active=True
    ).values_list("practitioner_id", "starts_at", "ends_at")
    for pid, s, e in rows:
        busy.setdefault(pid, []).append((s, e))
    return busy


def free_intervals_for(
    practitioner_ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    include_busy: bool = True,
) -> dict[int, list[Interval]]:
    """Each practitioner's bookable time in ``[start, end)``, in three queries total."""
    windows: dict[int, list[WeeklyWindow]] = {pid: [] for pid in practitioner_ids}
    for rule in AvailabilityRule.objects.filter(
        practitioner_id__in=practitioner_ids
    ).filter(
        Q(valid_until__isnull=True)
        | Q(valid_until__gte=start.date() - timedelta(days=1))
    ):
        windows[rule.practitioner_id].append(
            WeeklyWindow(
                rule.weekday,
                rule.start_time,
                rule.end_time,
                rule.time_zone,
                rule.valid_from,
                rule.valid_until,
            )
        )
    overrides: dict[int, list[Override]] = {pid: [] for pid in practitioner_ids}
    for exc in AvailabilityException.objects.filter(
        practitioner_id__in=practitioner_ids, starts_at__lt=end, ends_at__gt=start
    ):
        overrides[exc.practitioner_id].append(
            Override(exc.starts_at, exc.ends_at, exc.adds_time)
        )
    busy = busy_intervals(practitioner_ids, [(start, end)]) if include_busy else {}
    return {
        pid: availability.free_intervals(
            windows[pid], overrides[pid], busy.get(pid, []), start, end
        )
        for pid in practitioner_ids
    }


def search_range(
    start_day: date, end_day: date, zone: str
) -> tuple[datetime, datetime]:
    """UTC bounds of whole local days ``start_day``..``end_day``, never in the past."""
    tz = ZoneInfo(zone)
    start = datetime.combine(start_day, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=tz).astimezone(
        UTC
    )
    return max(start, availability.align_up(datetime.now(UTC), SLOT_STEP)), end


def free_slots(
    actor: Any,
    *,
    practitioner_id: object,
    consultation_type_id: object,
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, datetime]]:
    """Free slots of one practitioner for one consultation type."""
    practitioner = practitioner_get(actor, practitioner_id)
    kind = consultation_type_get(actor, consultation_type_id)
    duration = timedelta(minutes=kind.duration_minutes)
    free = free_intervals_for([practitioner.pk], start, end)[practitioner.pk]
    return [
        (s, s + duration) for s in availability.slot_starts(free, duration, SLOT_STEP)
    ]


@dataclass(frozen=True, slots=True)
class SeatRequest:
    """One MDT seat: a named practitioner, or anyone of a department."""

    practitioner_id: int | None = None
    department_id: int | None = None


def mdt_search(
    actor: Any,
    *,
    seats: Sequence[SeatRequest],
    start: datetime,
    end: datetime,
    duration: timedelta,
    limit: int = 10,
) -> list[MdtSlot]:
    """Earliest slots where every seat can be filled by a distinct free practitioner."""
    pool = list(practitioners(actor))
    by_id = {p.pk: p for p in pool}
    candidates: list[list[int]] = []
    for seat in seats:
        if seat.practitioner_id is not None:
            if seat.practitioner_id not in by_id:
                raise NotFound()
            candidates.append([seat.practitioner_id])
        else:
            candidates.append(
                sorted(p.pk for p in pool if p.department_id == seat.department_id)
            )
    involved = sorted({pid for seat in candidates for pid in seat})
    # Diaries first, bookings only where every seat could meet: the common
    # windows are a small fraction of the range, so few booking rows load.
    diaries = free_intervals_for(involved, start, end, include_busy=False)
    common = common_windows(candidates, diaries)
    if len(common) > MAX_BUSY_SPANS:
        common = [(start, end)]
    busy = busy_intervals(involved, common)
    free = {
        pid: availability.subtract(diaries[pid], busy.get(pid, [])) for pid in involved
    }
    return find_common_slots(candidates, free, duration, SLOT_STEP, limit)


def appointments_for(
    actor: Any, *, start: datetime, end: datetime
) -> QuerySet[Appointment]:
    """Appointments the actor takes part in (for coordinators, their organisation's)."""
    require_scheduler(actor)
    queryset = Appointment.objects.filter(
        organisation_id=actor.organisation_id, starts_at__lt=end, ends_at__gt=start
    )
    if actor.role != Role.NURSE:
        queryset = queryset.filter(participants__practitioner=actor)
    return (
        queryset.select_related("consultation_type")
        .prefetch_related("participants__practitioner")
        .distinct()
    )


def appointment_get(actor: Any, appointment_id: object) -> Appointment:
    """One appointment the actor may see (same rules as ``appointments_for``)."""
    require_scheduler(actor)
    try:
        pk = uuid.UUID(str(appointment_id))
    except ValueError as exc:
        raise NotFound() from exc
    queryset = Appointment.objects.filter(pk=pk, organisation_id=actor.organisation_id)
    if actor.role != Role.NURSE:
        queryset = queryset.filter(participants__practitioner=actor)
    found = queryset.select_related("consultation_type", "patient").first()
    if found is None:
        raise NotFound()
    return found
