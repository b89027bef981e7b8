"""Coordinator books an MDT in the UI; the patient waits; the clinician admits them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consult.accounts.models import Department, Role
from consult.scheduling.models import (
    AvailabilityException,
    ConsultationType,
    WaitingEntry,
)
from tests.factories import (
    CareRelationshipFactory,
    DepartmentFactory,
    HospitalFactory,
    PatientFactory,
    UserFactory,
    make_phi,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_url: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_url}/")


def test_mdt_booking_waiting_and_admission(browser, live_url) -> None:  # type: ignore[no-untyped-def]
    """Book in the MDT finder, send the link, patient waits, cardiologist admits."""
    hospital = HospitalFactory()
    cardiology = DepartmentFactory(organisation=hospital, name="Cardiology")
    radiology = DepartmentFactory(
        organisation=hospital,
        name="Radiology",
        specialty=Department.Specialty.RADIOLOGY,
    )
    coordinator = UserFactory(role=Role.NURSE, department=cardiology, time_zone="UTC")
    cardiologist = UserFactory(
        role=Role.SPECIALIST, department=cardiology, first_name="Carla", time_zone="UTC"
    )
    radiologist = UserFactory(
        role=Role.SPECIALIST, department=radiology, first_name="Rhys", time_zone="UTC"
    )
    now = timezone.now()
    for person in (cardiologist, radiologist):
        AvailabilityException.objects.create(
            practitioner=person,
            kind="extra",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=4),
        )
    ConsultationType.objects.create(
        organisation=hospital,
        code="mdt-60",
        name="MDT meeting",
        duration_minutes=60,
        modality="video",
        is_mdt=True,
    )
    patient = PatientFactory(
        organisation=hospital, phi=make_phi(9, family_name="Fairbanks")
    )
    CareRelationshipFactory(patient=patient, department=cardiology)

    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    page = staff.new_page()
    _sign_in(page, live_url, coordinator.username)
    page.goto(f"{live_url}/schedule/mdt/")
    page.wait_for_selector(
        "#seat-0 option[value='p:%d']" % cardiologist.pk, state="attached"
    )
    page.select_option("#seat-0", f"p:{cardiologist.pk}")
    page.select_option("#seat-1", f"p:{radiologist.pk}")
    page.wait_for_selector("#mdt-type option:not([value=''])", state="attached")
    page.fill("#mdt-zone", "UTC")
    page.click("text=Find common times")
    page.locator(".mdt-slot").first.click()
    page.wait_for_selector(
        f"#patient-list option[value='{patient.pk}']", state="attached"
    )
    page.select_option("#patient-list", str(patient.pk))
    page.click("#book-confirm")
    page.wait_for_selector("#result-card:not([hidden])")
    page.click("#send-link")
    page.wait_for_function(
        "document.getElementById('link-url').value.includes('/join/')"
    )
    link = page.input_value("#link-url")

    patient_context = browser.new_context(viewport={"width": 390, "height": 844})
    patient_page = patient_context.new_page()
    patient_page.goto(link)
    patient_page.wait_for_url("**/waiting/")
    patient_page.wait_for_function(
        "document.getElementById('wr-status').textContent"
        ".includes('Your clinician knows you')"
    )

    clinician_context = browser.new_context(viewport={"width": 1280, "height": 900})
    clinician = clinician_context.new_page()
    _sign_in(clinician, live_url, cardiologist.username)
    clinician.goto(f"{live_url}/schedule/")
    clinician.wait_for_selector(".waiting-item button.admit")
    assert "FAIRBANKS" in clinician.locator(".waiting-item").first.inner_text()
    clinician.click(".waiting-item button.admit")
    clinician.wait_for_url("**/rooms/**")

    patient_page.wait_for_url("**/rooms/**", timeout=10_000)
    assert patient_page.url == clinician.url
    assert WaitingEntry.objects.get().admitted_by_id == cardiologist.pk
    for context in (staff, patient_context, clinician_context):
        context.close()
