"""Schedule pages: who may open them, and whose diaries they show.

Clinicians with diaries (specialist, surgeon) get the calendar and their own
availability; coordinators (nurse) get every page. Roles without a diary or a
coordinating duty get a 403 page rather than a 404: the pages exist, the role
is what is refused. Clinicians get a 403 on the coordinator-only booking and
MDT pages. Signed-out visitors are sent to the login page.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from consult.accounts.models import Department, Role, User
from tests.factories import (
    DepartmentFactory,
    HospitalFactory,
    ParamedicFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ALL_PAGES = [
    "scheduling:calendar",
    "scheduling:book",
    "scheduling:mdt",
    "scheduling:availability",
]
CLINICIAN_PAGES = ["scheduling:calendar", "scheduling:availability"]
COORDINATOR_ONLY = ["scheduling:book", "scheduling:mdt"]

BUILDERS: dict[str, Callable[[], User]] = {
    Role.SPECIALIST: lambda: UserFactory(role=Role.SPECIALIST),
    Role.SURGEON: lambda: UserFactory(
        role=Role.SURGEON, department__specialty=Department.Specialty.SURGERY
    ),
    Role.NURSE: lambda: UserFactory(role=Role.NURSE),
    Role.TRAINEE: lambda: UserFactory(role=Role.TRAINEE),
    Role.PARAMEDIC: lambda: ParamedicFactory(),
    Role.OPERATOR: lambda: UserFactory(
        role=Role.OPERATOR, department__specialty=Department.Specialty.COMMAND_CENTRE
    ),
    Role.ADMINISTRATOR: lambda: UserFactory(
        role=Role.ADMINISTRATOR, department=None, organisation=HospitalFactory()
    ),
}


def _signed_in(client: Client, role: str) -> User:
    user = BUILDERS[role]()
    client.force_login(user)
    return user


def _page_config(response) -> dict:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    start = html.index('<script id="schedule-config" type="application/json">')
    body = html[start:].split(">", 1)[1].split("</script>", 1)[0]
    return json.loads(body)


@pytest.mark.parametrize("page", CLINICIAN_PAGES)
@pytest.mark.parametrize("role", [Role.SPECIALIST, Role.SURGEON, Role.NURSE])
def test_clinician_pages_render_for_roles_with_schedules(
    client: Client, role: str, page: str
) -> None:
    """The calendar and availability pages render for clinicians and coordinators."""
    _signed_in(client, role)
    assert client.get(reverse(page)).status_code == 200


@pytest.mark.parametrize("page", COORDINATOR_ONLY)
def test_booking_pages_render_for_coordinators(client: Client, page: str) -> None:
    """The booking and MDT pages render for a coordinator."""
    _signed_in(client, Role.NURSE)
    assert client.get(reverse(page)).status_code == 200


@pytest.mark.parametrize("page", COORDINATOR_ONLY)
@pytest.mark.parametrize("role", [Role.SPECIALIST, Role.SURGEON])
def test_booking_pages_are_refused_to_clinicians(
    client: Client, role: str, page: str
) -> None:
    """Clinicians get a 403 page on the coordinator-only booking pages."""
    _signed_in(client, role)
    response = client.get(reverse(page))
    assert response.status_code == 403
    assert b"permission_denied" in response.content


@pytest.mark.parametrize("page", ALL_PAGES)
@pytest.mark.parametrize(
    "role", [Role.TRAINEE, Role.PARAMEDIC, Role.OPERATOR, Role.ADMINISTRATOR]
)
def test_pages_are_refused_to_roles_without_schedules(
    client: Client, role: str, page: str
) -> None:
    """Roles without a diary or a coordinating duty get a 403 page."""
    _signed_in(client, role)
    assert client.get(reverse(page)).status_code == 403


@pytest.mark.parametrize("page", ALL_PAGES)
def test_pages_send_signed_out_visitors_to_login(client: Client, page: str) -> None:
    """A signed-out visitor is redirected to the login page."""
    response = client.get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("page", ALL_PAGES)
def test_coordinator_does_not_see_another_hospitals_practitioners(
    client: Client, page: str
) -> None:
    """A coordinator of another hospital sees none of this hospital's clinicians."""
    here = DepartmentFactory(organisation=HospitalFactory())
    UserFactory(role=Role.SPECIALIST, department=here, last_name="Zzhereonly")
    mine = UserFactory(role=Role.SPECIALIST, last_name="Mineonly")
    coordinator = UserFactory(role=Role.NURSE, department=mine.department)
    client.force_login(coordinator)
    response = client.get(reverse(page))
    assert b"Zzhereonly" not in response.content
    assert [p["id"] for p in _page_config(response)["practitioners"]] == [mine.pk]


def test_availability_of_another_hospitals_practitioner_is_not_found(
    client: Client,
) -> None:
    """A coordinator asking for another hospital's clinician's diary gets a 404."""
    elsewhere = UserFactory(role=Role.SPECIALIST)
    _signed_in(client, Role.NURSE)
    response = client.get(
        reverse("scheduling:availability"), {"practitioner": elsewhere.pk}
    )
    assert response.status_code == 404


def test_clinician_cannot_open_a_colleagues_availability(client: Client) -> None:
    """A clinician may edit only their own diary: a colleague's is a 403."""
    me = _signed_in(client, Role.SPECIALIST)
    colleague = UserFactory(role=Role.SPECIALIST, department=me.department)
    response = client.get(
        reverse("scheduling:availability"), {"practitioner": colleague.pk}
    )
    assert response.status_code == 403


def test_clinician_availability_defaults_to_own_diary(client: Client) -> None:
    """Without a choice, a clinician's availability page shows their own diary."""
    me = _signed_in(client, Role.SURGEON)
    response = client.get(reverse("scheduling:availability"))
    assert _page_config(response)["practitioner_id"] == me.pk


def test_calendar_shows_the_viewers_time_zone(client: Client) -> None:
    """The calendar states and passes on the viewer's own time zone."""
    user = UserFactory(role=Role.SPECIALIST, time_zone="America/New_York")
    client.force_login(user)
    response = client.get(reverse("scheduling:calendar"))
    assert b"America/New_York" in response.content
    assert _page_config(response)["time_zone"] == "America/New_York"


def test_calendar_includes_the_waiting_panel(client: Client) -> None:
    """The calendar page carries the waiting-room panel and its script."""
    _signed_in(client, Role.SPECIALIST)
    response = client.get(reverse("scheduling:calendar"))
    assert b'id="waiting-panel"' in response.content
    assert b"js/waiting_panel.js" in response.content


def test_coordinator_nav_links_to_book_and_mdt(client: Client) -> None:
    """A coordinator's navigation offers Schedule, Book and MDT."""
    _signed_in(client, Role.NURSE)
    html = client.get(reverse("home")).content.decode()
    for name in ("scheduling:calendar", "scheduling:book", "scheduling:mdt"):
        assert f'href="{reverse(name)}"' in html


def test_clinician_nav_links_to_schedule_only(client: Client) -> None:
    """A clinician's navigation offers Schedule but not the booking pages."""
    _signed_in(client, Role.SPECIALIST)
    html = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("scheduling:calendar")}"' in html
    assert f'href="{reverse("scheduling:book")}"' not in html


def test_trainee_nav_has_no_schedule(client: Client) -> None:
    """A trainee, who has no diary, sees no Schedule link."""
    _signed_in(client, Role.TRAINEE)
    html = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("scheduling:calendar")}"' not in html
