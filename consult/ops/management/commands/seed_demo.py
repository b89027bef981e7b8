"""``manage.py seed_demo``: synthetic demo data. Idempotent; never real people."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from consult.accounts.models import Crew, Department, Organisation, Role, User
from consult.records import phi as phi_codec
from consult.records.audit import audit_event_record
from consult.records.context import COMMAND
from consult.records.models import AuditEvent, CareRelationship, Patient
from consult.records.phi import PatientPHI
from consult.scheduling.demo import describe, seed_scheduling

DEMO_PASSWORD = "telemed-demo-2026"  # noqa: S105  (synthetic demo accounts only)
HOSPITAL = "Riverside General Hospital (demo)"
AMBULANCE = "Northshire Ambulance Service (demo)"
DEPARTMENTS = [
    ("Cardiology", Department.Specialty.CARDIOLOGY),
    ("Radiology", Department.Specialty.RADIOLOGY),
    ("Surgery", Department.Specialty.SURGERY),
    ("Emergency", Department.Specialty.EMERGENCY),
]
# username, first, last, role, department or crew
USERS = [
    ("admin", "Alex", "Admin", Role.ADMINISTRATOR, None),
    ("dr.cardio", "Priya", "Raman", Role.SPECIALIST, "Cardiology"),
    ("dr.radio", "Tomasz", "Nowak", Role.SPECIALIST, "Radiology"),
    ("dr.radio2", "Aisha", "Bello", Role.SPECIALIST, "Radiology"),
    ("dr.surgeon", "Helen", "Okafor", Role.SURGEON, "Surgery"),
    ("dr.mentor", "Daniel", "Osei", Role.SURGEON, "Surgery"),
    ("nurse.cardio", "Sam", "Patel", Role.NURSE, "Cardiology"),
    ("nurse.ed", "Jo", "Murphy", Role.NURSE, "Emergency"),
    ("operator.cc", "Chris", "Lee", Role.OPERATOR, "Emergency"),
    ("trainee.surg", "Maya", "Chen", Role.TRAINEE, "Surgery"),
    ("medic.alpha", "Ravi", "Singh", Role.PARAMEDIC, "crew:ALPHA-1"),
    ("medic.bravo", "Erin", "Walsh", Role.PARAMEDIC, "crew:BRAVO-2"),
]
_FAMILY = [
    "Ashworth",
    "Bellamy",
    "Carver",
    "Dunmore",
    "Ellery",
    "Fairbanks",
    "Greaves",
    "Hollis",
    "Ingram",
    "Jessop",
]
_GIVEN_F = ["Ada", "Beatrix", "Clara", "Delia", "Edith", "Freya", "Greta"]
_GIVEN_M = ["Arthur", "Basil", "Cedric", "Declan", "Edmund", "Felix", "Gideon"]
_ALLERGIES = ["Penicillin", "Latex", "Iodinated contrast", "Aspirin", "Peanuts"]
_NOTES = [
    "Synthetic demo record. Follow-up after chest pain work-up.",
    "Synthetic demo record. Awaiting CT review at MDT.",
    "Synthetic demo record. Post-operative check, wound healing well.",
    "Synthetic demo record. Known atrial fibrillation on anticoagulation.",
]
PATIENT_COUNT = 20


class Command(BaseCommand):
    help = "Create the synthetic demo organisations, users and patients (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        hospital, _ = Organisation.objects.get_or_create(
            name=HOSPITAL, defaults={"kind": Organisation.Kind.HOSPITAL}
        )
        ambulance, _ = Organisation.objects.get_or_create(
            name=AMBULANCE, defaults={"kind": Organisation.Kind.AMBULANCE_SERVICE}
        )
        departments = {
            name: Department.objects.get_or_create(
                organisation=hospital, name=name, defaults={"specialty": specialty}
            )[0]
            for name, specialty in DEPARTMENTS
        }
        crews = {
            call_sign: Crew.objects.get_or_create(
                organisation=ambulance, call_sign=call_sign
            )[0]
            for call_sign in ("ALPHA-1", "BRAVO-2")
        }
        users = {
            spec[0]: self._user(spec, hospital, ambulance, departments, crews)
            for spec in USERS
        }
        patients = self._patients(hospital, departments, users["admin"])
        self._relationships(patients, users)
        link = seed_scheduling(hospital=hospital, users=users, patients=patients)
        self._print_logins()
        if link:
            self.stdout.write(describe(link) + "\n")

    def _user(
        self,
        spec: tuple[str, str, str, str, str | None],
        hospital: Organisation,
        ambulance: Organisation,
        departments: dict[str, Department],
        crews: dict[str, Crew],
    ) -> User:
        username, first, last, role, place = spec
        user = User.objects.filter(username=username).first() or User(username=username)
        user.first_name, user.last_name, user.role = first, last, role
        user.email = f"{username}@demo.invalid"
        if place and place.startswith("crew:"):
            user.organisation, user.crew, user.department = (
                ambulance,
                crews[place[5:]],
                None,
            )
        else:
            user.organisation = hospital
            user.department = departments[place] if place else None
        user.is_staff = user.is_superuser = role == Role.ADMINISTRATOR
        user.set_password(DEMO_PASSWORD)
        user.full_clean()
        user.save()
        return user

    def _patients(
        self, hospital: Organisation, departments: dict[str, Department], admin: User
    ) -> list[Patient]:
        rng = random.Random(2026)  # noqa: S311  (deterministic synthetic data)
        dept_cycle = list(departments.values())
        patients = []
        for n in range(1, PATIENT_COUNT + 1):
            sex = rng.choice(["female", "male"])
            phi = PatientPHI(
                family_name=rng.choice(_FAMILY),
                given_name=rng.choice(_GIVEN_F if sex == "female" else _GIVEN_M),
                birth_date=date(1940, 1, 1)
                + timedelta(days=rng.randrange(0, 80 * 365)),
                sex=sex,
                mrn=f"DEMO-{n:04d}",
                phone=f"+44 7700 900{n:03d}",
                allergies=tuple(rng.sample(_ALLERGIES, rng.choice([0, 0, 1, 2]))),
                notes=rng.choice(_NOTES),
            )
            existing = Patient.objects.filter(
                organisation=hospital, mrn_index=phi_codec.mrn_index(phi.mrn)
            ).first()
            if existing:
                patients.append(existing)
                continue
            patient = Patient(organisation=hospital)
            phi_codec.seal(patient, phi)
            patient.full_clean()
            patient.save(force_insert=True)
            CareRelationship.objects.create(
                patient=patient,
                kind=CareRelationship.Kind.DEPARTMENT,
                department=dept_cycle[(n - 1) % len(dept_cycle)],
                source="seed_demo",
            )
            audit_event_record(
                actor=None,
                action=AuditEvent.Action.CREATE,
                ctx=COMMAND,
                object_type="patient",
                object_id=str(patient.pk),
                patient_id=patient.pk,
                extra={"source": "seed_demo"},
            )
            patients.append(patient)
        return patients

    def _relationships(self, patients: list[Patient], users: dict[str, User]) -> None:
        # A radiologist consulting on two cardiology patients, and two crews'
        # current patients, so every kind of care relationship is on show.
        links = [
            (
                patients[0],
                users["dr.radio"],
                CareRelationship.Kind.CONSULTATION,
                "seed:consultation",
            ),
            (
                patients[4],
                users["dr.radio"],
                CareRelationship.Kind.CONSULTATION,
                "seed:consultation",
            ),
            (
                patients[3],
                users["medic.alpha"],
                CareRelationship.Kind.EMERGENCY_CASE,
                "seed:case",
            ),
            (
                patients[7],
                users["medic.bravo"],
                CareRelationship.Kind.EMERGENCY_CASE,
                "seed:case",
            ),
        ]
        for patient, user, kind, source in links:
            CareRelationship.objects.get_or_create(
                patient=patient, user=user, kind=kind, defaults={"source": source}
            )

    def _print_logins(self) -> None:
        self.stdout.write("\nDemo logins (password for all: %s)\n" % DEMO_PASSWORD)
        for username, _first, _last, role, place in USERS:
            where = (place or "").replace("crew:", "crew ")
            self.stdout.write(f"  {username:<14} {Role(role).label:<26} {where}\n")
        self.stdout.write("")
