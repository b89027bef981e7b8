"""The private iCalendar feed: token handling, DST-correct times, no patient data."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.urls import include, path
from django.utils import timezone

from consult.accounts.models import Role
from consult.scheduling import ical, services
from consult.scheduling.models import CalendarFeed
from tests.consult.scheduling.conftest import CTX, LONDON, local, next_weekday
from tests.factories import UserFactory

urlpatterns = [path("calendar/", include("consult.scheduling.ical_urls"))]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def _book(clinic, start, *, practitioners=None, kind=None, patient=None):  # type: ignore[no-untyped-def]
    return services.appointment_book(
        actor=clinic.coordinator,
        patient_id=(patient or clinic.patients[0]).pk,
        consultation_type=kind or clinic.video,
        practitioner_ids=[p.pk for p in practitioners or [clinic.cardiologist]],
        starts_at=start,
        time_zone=LONDON,
        reason="Synthetic: Canaryreason chest pain",
        ctx=CTX,
    )


def _feed_url(api_client, user) -> str:  # type: ignore[no-untyped-def]
    api_client.force_authenticate(user)
    url = api_client.post("/calendar/feed/").json()["url"]
    api_client.force_authenticate(None)
    return url.removeprefix("http://testserver")


def _events(body: bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(body).walk("VEVENT"))


def _monday_on_or_after(day: date) -> date:
    return day + timedelta(days=(0 - day.weekday()) % 7)


def _january_and_july() -> tuple[date, date]:
    """Mondays in the next January still ahead and in the July after it."""
    year = timezone.now().year
    january = _monday_on_or_after(date(year, 1, 5))
    if january <= timezone.now().date() + timedelta(days=2):
        year += 1
        january = _monday_on_or_after(date(year, 1, 5))
    return january, _monday_on_or_after(date(year, 7, 1))


# Creating and revoking


def test_creating_a_feed_returns_its_url_and_stores_only_a_hash(
    clinic, api_client
) -> None:  # type: ignore[no-untyped-def]
    """POST /calendar/feed/ returns the URL once; only the token's SHA-256 is stored."""
    url = _feed_url(api_client, clinic.cardiologist)
    token = url.removeprefix("/calendar/").removesuffix(".ics")
    feed = CalendarFeed.objects.get(user=clinic.cardiologist)
    assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_creating_a_feed_revokes_the_previous_one(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """The old URL stops working once a new feed is made."""
    old = _feed_url(api_client, clinic.cardiologist)
    _feed_url(api_client, clinic.cardiologist)
    assert api_client.get(old).status_code == 404


def test_deleting_the_feed_revokes_it(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """DELETE /calendar/feed/ makes the URL a 404."""
    url = _feed_url(api_client, clinic.cardiologist)
    api_client.force_authenticate(clinic.cardiologist)
    api_client.delete("/calendar/feed/")
    api_client.force_authenticate(None)
    assert api_client.get(url).status_code == 404


def test_an_unknown_token_is_404(db, client) -> None:  # type: ignore[no-untyped-def]
    """A well-formed token that was never issued is a 404."""
    assert client.get(f"/calendar/{'x' * 43}.ics").status_code == 404


def test_a_role_without_a_diary_cannot_make_a_feed(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A trainee gets 403 permission_denied."""
    api_client.force_authenticate(
        UserFactory(role=Role.TRAINEE, department=clinic.cardiology)
    )
    response = api_client.post("/calendar/feed/")
    assert (response.status_code, response.json()["code"]) == (
        403,
        "permission_denied",
    )


def test_a_deactivated_users_feed_is_404(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A feed dies with its owner's account."""
    url = _feed_url(api_client, clinic.cardiologist)
    clinic.cardiologist.is_active = False
    clinic.cardiologist.save(update_fields=["is_active"])
    assert api_client.get(url).status_code == 404


# Fetch bookkeeping


def test_a_fetch_records_when(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """The first fetch sets last_fetched_at."""
    url = _feed_url(api_client, clinic.cardiologist)
    api_client.get(url)
    assert CalendarFeed.objects.get().last_fetched_at is not None


def test_fetches_within_a_minute_write_once(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A second fetch seconds later leaves last_fetched_at as the first one set it."""
    url = _feed_url(api_client, clinic.cardiologist)
    api_client.get(url)
    first = CalendarFeed.objects.get().last_fetched_at
    api_client.get(url)
    assert CalendarFeed.objects.get().last_fetched_at == first


def test_a_fetch_after_a_minute_updates_the_time(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Once the last fetch is over a minute old, the next one moves it."""
    url = _feed_url(api_client, clinic.cardiologist)
    stale = timezone.now() - timedelta(minutes=2)
    CalendarFeed.objects.update(last_fetched_at=stale)
    api_client.get(url)
    assert CalendarFeed.objects.get().last_fetched_at > stale


# Content


def test_the_feed_is_text_calendar(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """The feed answers text/calendar."""
    url = _feed_url(api_client, clinic.cardiologist)
    assert api_client.get(url)["Content-Type"] == "text/calendar; charset=utf-8"


def test_an_appointment_is_an_event_with_a_host_scoped_uid(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Each appointment is one VEVENT whose UID is <appointment id>@<host>."""
    appointment = _book(clinic, local(next_weekday(0), 10))
    url = _feed_url(api_client, clinic.cardiologist)
    events = _events(api_client.get(url).content)
    assert [str(e["UID"]) for e in events] == [f"{appointment.pk}@testserver"]


def test_the_summary_is_the_type_and_who_else(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """SUMMARY names the consultation type, the other clinicians and 'a patient'."""
    other = clinic.radiologists[0]
    _book(
        clinic,
        local(next_weekday(0), 10),
        practitioners=[clinic.cardiologist, other],
        kind=clinic.mdt,
    )
    url = _feed_url(api_client, clinic.cardiologist)
    (event,) = _events(api_client.get(url).content)
    assert (
        str(event["SUMMARY"])
        == f"MDT meeting with {other.get_full_name()} and a patient"
    )


def test_no_patient_data_leaves_in_the_feed(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Neither the patient's name nor the booking reason appears anywhere."""
    _book(clinic, local(next_weekday(0), 10))
    url = _feed_url(api_client, clinic.cardiologist)
    assert b"anary" not in api_client.get(url).content.replace(b"\r\n ", b"")


def test_a_cancelled_appointment_is_cancelled_in_the_feed(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """Cancelled appointments stay as STATUS:CANCELLED with a higher SEQUENCE."""
    appointment = _book(clinic, local(next_weekday(0), 10))
    services.appointment_cancel(
        actor=clinic.coordinator,
        appointment_id=appointment.pk,
        reason="duplicate",
        ctx=CTX,
    )
    url = _feed_url(api_client, clinic.cardiologist)
    (event,) = _events(api_client.get(url).content)
    assert (str(event["STATUS"]), event["SEQUENCE"]) == ("CANCELLED", 1)


def test_other_clinicians_appointments_are_not_in_my_feed(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """A radiologist's feed holds none of the cardiologist's appointments."""
    _book(clinic, local(next_weekday(0), 10))
    url = _feed_url(api_client, clinic.radiologists[0])
    assert _events(api_client.get(url).content) == []


def test_the_zone_is_declared_as_a_vtimezone(clinic, api_client) -> None:  # type: ignore[no-untyped-def]
    """The calendar carries a VTIMEZONE for Europe/London, which TZIDs refer to."""
    _book(clinic, local(next_weekday(0), 10))
    url = _feed_url(api_client, clinic.cardiologist)
    calendar = icalendar.Calendar.from_ical(api_client.get(url).content)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == [LONDON]


def test_winter_appointment_reads_nine_local_and_nine_utc(clinic) -> None:  # type: ignore[no-untyped-def]
    """09:00 London in January is 09:00 GMT: 09:00 UTC."""
    january, july = _january_and_july()
    _book(clinic, local(january, 9))
    _book(clinic, local(july, 9), patient=clinic.patients[1])
    body = ical.calendar_build(
        clinic.cardiologist,
        host="testserver",
        base_url="http://testserver/",
        now=datetime.combine(july, time(12), tzinfo=UTC) - timedelta(days=170),
    )
    start = _events(body)[0].start
    assert (start.tzinfo, start.time(), start.astimezone(UTC).time()) == (
        ZoneInfo(LONDON),
        time(9),
        time(9),
    )


def test_summer_appointment_reads_nine_local_and_eight_utc(clinic) -> None:  # type: ignore[no-untyped-def]
    """09:00 London in July is 09:00 BST: 08:00 UTC."""
    january, july = _january_and_july()
    _book(clinic, local(january, 9))
    _book(clinic, local(july, 9), patient=clinic.patients[1])
    body = ical.calendar_build(
        clinic.cardiologist,
        host="testserver",
        base_url="http://testserver/",
        now=datetime.combine(july, time(12), tzinfo=UTC) - timedelta(days=170),
    )
    start = _events(body)[1].start
    assert (start.tzinfo, start.time(), start.astimezone(UTC).time()) == (
        ZoneInfo(LONDON),
        time(9),
        time(8),
    )


def test_appointments_beyond_the_window_are_left_out(clinic) -> None:  # type: ignore[no-untyped-def]
    """More than 180 days ahead is not in the feed."""
    _january, july = _january_and_july()
    _book(clinic, local(july, 9))
    body = ical.calendar_build(
        clinic.cardiologist,
        host="testserver",
        base_url="http://testserver/",
        now=datetime.combine(july, time(12), tzinfo=UTC) - timedelta(days=190),
    )
    assert _events(body) == []
