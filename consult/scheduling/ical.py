"""Private iCalendar feeds of a clinician's consultations.

A feed leaves the hospital (it is read by Google, Outlook, phones), so it
carries no patient data: no patient name and no booking reason, only the
consultation type, the other clinicians and the room link. The URL token is
stored only as its SHA-256 hash.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch
from django.utils import timezone

from consult.accounts.models import hash_token
from consult.exceptions import NotFound
from consult.scheduling.models import Appointment, CalendarFeed
from consult.scheduling.selectors import require_scheduler

FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=180)
# Write last_fetched_at at most this often: calendar apps poll.
FETCH_RESOLUTION = timedelta(minutes=1)
PRODID = "-//Telemedicine platform//Consultations//EN"
_ICAL_STATUS = {
    Appointment.Status.CANCELLED: "CANCELLED",
    Appointment.Status.PROPOSED: "TENTATIVE",
    Appointment.Status.PENDING: "TENTATIVE",
}


def room_url(appointment: Appointment, *, request: Any = None) -> str | None:
    """The appointment's room link (absolute given a request), or ``None``.

    ``None`` too while the rooms pages are not routed, so that a missing
    page never breaks a feed, a reminder or a FHIR read.
    """
    room = getattr(appointment, "room", None)
    if room is None:
        return None
    try:
        path = room.get_absolute_url()
    except NoReverseMatch:
        return None
    return request.build_absolute_uri(path) if request is not None else path


@transaction.atomic
def calendar_feed_create(*, user: Any) -> tuple[CalendarFeed, str]:
    """A new feed for ``user``, revoking earlier ones; the raw token is shown once."""
    require_scheduler(user)
    now = timezone.now()
    CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=now
    )
    raw = secrets.token_urlsafe(32)
    feed = CalendarFeed(user=user, token_hash=hash_token(raw), created_at=now)
    feed.full_clean()
    feed.save()
    return feed, raw


def calendar_feed_revoke(*, user: Any) -> int:
    """Revoke every feed of ``user``; returns how many were live."""
    return CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def calendar_feed_resolve(raw_token: str) -> CalendarFeed:
    """The live feed a token opens, or ``NotFound``; notes the fetch once a minute."""
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(token_hash=hash_token(raw_token), revoked_at__isnull=True)
        .first()
    )
    if feed is None or not feed.user.is_active:
        raise NotFound()
    now = timezone.now()
    CalendarFeed.objects.filter(pk=feed.pk).filter(
        Q(last_fetched_at__isnull=True) | Q(last_fetched_at__lte=now - FETCH_RESOLUTION)
    ).update(last_fetched_at=now)
    return feed


def _with(names: list[str]) -> str:
    people = [*names, "a patient"]
    if len(people) == 1:
        return people[0]
    return f"{', '.join(people[:-1])} and {people[-1]}"


def _event(
    appointment: Appointment, owner: Any, *, host: str, now: datetime, base_url: str
) -> icalendar.Event:
    tz = ZoneInfo(appointment.time_zone)
    others = sorted(
        p.practitioner.get_full_name()
        for p in appointment.participants.all()
        if p.practitioner_id != owner.pk
    )
    event = icalendar.Event()
    event.add("uid", f"{appointment.pk}@{host}")
    event.add("dtstamp", now)
    event.add("dtstart", appointment.starts_at.astimezone(tz))
    event.add("dtend", appointment.ends_at.astimezone(tz))
    event.add("summary", f"{appointment.consultation_type.name} with {_with(others)}")
    event.add("status", _ICAL_STATUS.get(appointment.status, "CONFIRMED"))
    # Cancelling is the only change to an appointment a calendar must see
    # (a reschedule is a new appointment with a new UID).
    cancelled = appointment.status == Appointment.Status.CANCELLED
    event.add("sequence", 1 if cancelled else 0)
    event.add("created", appointment.booked_at)
    event.add(
        "last-modified",
        max(t for t in (appointment.booked_at, appointment.cancelled_at) if t),
    )
    event.add("class", "PRIVATE")
    event.add("transp", "OPAQUE")
    link = room_url(appointment)
    if link is not None:
        event.add("url", base_url.rstrip("/") + link)
    return event


def calendar_build(
    user: Any, *, host: str, base_url: str, now: datetime | None = None
) -> bytes:
    """``user``'s consultations from 30 days back to 180 ahead, as iCalendar bytes.

    Each event is in its appointment's own zone (TZID plus VTIMEZONE), so a
    09:00 London appointment reads 09:00 in summer and in winter. Cancelled
    appointments stay in the feed as STATUS:CANCELLED so that subscribed
    calendars drop them.
    """
    now = now or timezone.now()
    start, end = now - FEED_PAST, now + FEED_FUTURE
    appointments = (
        Appointment.objects.filter(
            organisation_id=user.organisation_id,
            participants__practitioner=user,
            starts_at__lt=end,
            ends_at__gt=start,
        )
        .select_related("consultation_type", "room")
        .prefetch_related("participants__practitioner")
        .order_by("starts_at", "pk")
        .distinct()
    )
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", "Consultations")
    calendar.add("x-wr-timezone", user.time_zone)
    calendar.add(
        "refresh-interval", timedelta(minutes=15), parameters={"VALUE": "DURATION"}
    )
    calendar.add("x-published-ttl", "PT15M")
    for appointment in appointments:
        calendar.add_component(
            _event(appointment, user, host=host, now=now, base_url=base_url)
        )
    calendar.add_missing_timezones(
        first_date=(start - timedelta(days=366)).date(),
        last_date=(end + timedelta(days=366)).date(),
    )
    return calendar.to_ical()
