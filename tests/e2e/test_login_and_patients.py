"""A clinician signs in, sees only their patients, opens one; others get a 404."""

from __future__ import annotations

from pathlib import Path

import pytest

from consult.accounts.models import Role
from consult.records.models import AuditEvent, CareRelationship
from tests.factories import (
    CareRelationshipFactory,
    DepartmentFactory,
    PatientFactory,
    UserFactory,
    make_phi,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def _sign_in(page, live_url: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_url}/")


def test_clinician_sees_department_patient_and_opens_the_record(page, live_url) -> None:  # type: ignore[no-untyped-def]
    """The list shows the department's patient; the record shows PHI and is audited."""
    department = DepartmentFactory()
    nurse = UserFactory(role=Role.NURSE, department=department)
    patient = PatientFactory(
        organisation=department.organisation, phi=make_phi(5, family_name="Ashworth")
    )
    CareRelationshipFactory(patient=patient, department=department)
    PatientFactory(
        organisation=department.organisation, phi=make_phi(6, family_name="Elsewhere")
    )

    _sign_in(page, live_url, nurse.username)
    page.click("text=Patients")
    rows = page.locator("table.table tbody tr")
    assert rows.count() == 1 and "ASHWORTH" in rows.first.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "patient-list.png"), full_page=True)
    page.click("text=ASHWORTH")
    assert "Penicillin" in page.locator("main").inner_text()
    page.screenshot(path=str(SHOTS / "patient-detail.png"), full_page=True)
    assert (
        AuditEvent.objects.filter(
            actor_id=nurse.pk,
            action="read",
            patient_id=patient.pk,
            channel="page",
            explained=True,
        ).count()
        == 1
    )


def test_patient_outside_reach_is_not_found(page, live_url) -> None:  # type: ignore[no-untyped-def]
    """Typing another department's patient id into the address bar gives a 404 page."""
    nurse = UserFactory(role=Role.NURSE)
    other = PatientFactory(organisation=nurse.organisation)
    CareRelationshipFactory(
        patient=other,
        department=DepartmentFactory(organisation=nurse.organisation),
        kind=CareRelationship.Kind.DEPARTMENT,
    )

    _sign_in(page, live_url, nurse.username)
    response = page.goto(f"{live_url}/patients/{other.pk}/")
    assert response.status == 404 and "Not found" in page.locator("h1").inner_text()


def test_wrong_password_keeps_the_user_out(page, live_url) -> None:  # type: ignore[no-untyped-def]
    """A bad password shows an error and stays on the login page."""
    user = UserFactory()
    page.goto(f"{live_url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    assert "didn't match" in page.locator("[role=alert]").inner_text()
