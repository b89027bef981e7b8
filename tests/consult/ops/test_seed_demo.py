"""``seed_demo`` makes the demo world, and running it twice changes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from consult.accounts.models import Department, Organisation, Role, User
from consult.records.audit import audit_chain_verify
from consult.records.models import CareRelationship, Patient

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _counts() -> tuple[int, ...]:
    return (
        Organisation.objects.count(),
        Department.objects.count(),
        User.objects.count(),
        Patient.objects.count(),
        CareRelationship.objects.count(),
    )


def test_seed_creates_every_role_and_twenty_patients() -> None:
    """One hospital, four departments, one ambulance service, all roles, 20 patients."""
    _seed()
    roles = set(User.objects.values_list("role", flat=True))
    assert (roles, Patient.objects.count(), Department.objects.count()) == (
        set(Role.values),
        20,
        4,
    )


def test_seed_is_idempotent() -> None:
    """A second run creates nothing new and keeps the audit chain intact."""
    _seed()
    before = _counts()
    _seed()
    assert (_counts(), audit_chain_verify().ok) == (before, True)


def test_seed_prints_the_demo_logins() -> None:
    """The output names the demo accounts and their password."""
    out = _seed()
    assert "dr.cardio" in out and "medic.alpha" in out and "password" in out
