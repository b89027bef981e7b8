"""``manage.py seed_guidance``: the demo operation, created once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from consult.accounts.models import Notification, Role
from consult.rooms.models import Room
from surgery_guidance.management.commands.seed_guidance import TITLE
from surgery_guidance.models import Operation
from tests.factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_users():  # type: ignore[no-untyped-def]
    """The seed_demo users the command builds on."""
    department = DepartmentFactory(name="Demo surgery")
    return (
        UserFactory(username="dr.surgeon", role=Role.SURGEON, department=department),
        UserFactory(username="dr.mentor", role=Role.SURGEON, department=department),
    )


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_guidance", stdout=out)
    return out.getvalue()


def test_seeding_twice_makes_one_broadcast_operation(demo_users) -> None:  # type: ignore[no-untyped-def]
    """A second run reuses the operation: one row, one room, one notification."""
    surgeon, mentor = demo_users
    _seed()
    _seed()
    operation = Operation.objects.get()
    assert (
        operation.title,
        operation.surgeon,
        list(operation.mentors.all()),
        (operation.broadcast, operation.consent_recorded),
        Room.objects.count(),
        Notification.objects.filter(user=mentor).count(),
    ) == (TITLE, surgeon, [mentor], (True, True), 1, 1)


def test_seeding_keeps_the_broadcast_token(demo_users) -> None:  # type: ignore[no-untyped-def]
    """Re-running does not invalidate the HLS URL of the running demo."""
    _seed()
    token = Operation.objects.get().broadcast_token
    _seed()
    assert Operation.objects.get().broadcast_token == token


def test_an_ended_demo_is_replaced_once(demo_users) -> None:  # type: ignore[no-untyped-def]
    """After the demo ended, seeding schedules one fresh demo, however often run."""
    _seed()
    Operation.objects.update(status=Operation.Status.ENDED)
    _seed()
    _seed()
    assert sorted(Operation.objects.values_list("status", flat=True)) == [
        Operation.Status.ENDED,
        Operation.Status.SCHEDULED,
    ]


def test_seeding_prints_the_operation_url(demo_users) -> None:  # type: ignore[no-untyped-def]
    """The output names the page to open."""
    out = _seed()
    assert Operation.objects.get().get_absolute_url() in out
