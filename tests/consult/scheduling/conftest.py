"""A small synthetic clinic for scheduling tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import factory
import pytest
from factory.django import DjangoModelFactory

from consult.accounts.models import Department, Role, User
from consult.records.context import AccessContext
from consult.records.models import Patient
from consult.scheduling.models import AvailabilityRule, ConsultationType
from tests.factories import (
    CareRelationshipFactory,
    DepartmentFactory,
    HospitalFactory,
    PatientFactory,
    UserFactory,
    make_phi,
)

LONDON = "Europe/London"
CTX = AccessContext(channel="test", ip="127.0.0.1")


class ConsultationTypeFactory(DjangoModelFactory):
    class Meta:
        model = ConsultationType

    organisation = factory.SubFactory(HospitalFactory)
    code = factory.Sequence(lambda n: f"type-{n}")
    name = "Video consultation"
    duration_minutes = 30
    modality = ConsultationType.Modality.VIDEO
    is_mdt = False


class AvailabilityRuleFactory(DjangoModelFactory):
    class Meta:
        model = AvailabilityRule

    weekday = 0
    start_time = time(9)
    end_time = time(17)
    time_zone = LONDON
    valid_from = date(2020, 1, 1)


@dataclass
class Clinic:
    coordinator: User
    cardiologist: User
    radiologists: list[User]
    cardiology: Department
    radiology: Department
    video: ConsultationType
    mdt: ConsultationType
    patients: list[Patient]


def next_weekday(weekday: int, *, weeks_ahead: int = 2, zone: str = LONDON) -> date:
    """A date ``weeks_ahead`` weeks from now falling on ``weekday``."""
    today = datetime.now(ZoneInfo(zone)).date() + timedelta(weeks=weeks_ahead)
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def local(day: date, hour: int, minute: int = 0, zone: str = LONDON) -> datetime:
    """A UTC instant from a local wall-clock time."""
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(
        UTC
    )


@pytest.fixture
def clinic(db) -> Clinic:  # type: ignore[no-untyped-def]
    """A hospital: cardiology and radiology, weekday 09-17 diaries, four patients."""
    hospital = HospitalFactory()
    cardiology = DepartmentFactory(organisation=hospital, name="Cardiology")
    radiology = DepartmentFactory(
        organisation=hospital,
        name="Radiology",
        specialty=Department.Specialty.RADIOLOGY,
    )
    coordinator = UserFactory(role=Role.NURSE, department=cardiology)
    cardiologist = UserFactory(role=Role.SPECIALIST, department=cardiology)
    radiologists = [
        UserFactory(role=Role.SPECIALIST, department=radiology) for _ in range(2)
    ]
    for person in [cardiologist, *radiologists]:
        for weekday in range(5):
            AvailabilityRuleFactory(practitioner=person, weekday=weekday)
    patients = []
    for n in range(4):
        patient = PatientFactory(organisation=hospital, phi=make_phi(100 + n))
        CareRelationshipFactory(patient=patient, department=cardiology)
        patients.append(patient)
    return Clinic(
        coordinator=coordinator,
        cardiologist=cardiologist,
        radiologists=radiologists,
        cardiology=cardiology,
        radiology=radiology,
        video=ConsultationTypeFactory(organisation=hospital, code="video-30"),
        mdt=ConsultationTypeFactory(
            organisation=hospital,
            code="mdt-60",
            name="MDT meeting",
            duration_minutes=60,
            is_mdt=True,
        ),
        patients=patients,
    )
