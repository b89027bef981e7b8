"""``manage.py seed_emergency``: teams, the hospital's position, two inbound cases.

Idempotent. Builds on ``seed_demo``'s organisations and users; call
``seed_emergency()`` from there, or run this command after it. The two
cases carry a few minutes of synthetic vitals so the board is not empty;
``simulate_ambulance --resume`` carries them on live, as ``make demo`` does.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from consult.accounts.models import Department, Organisation, User
from consult.emergency import ingest, services
from consult.emergency.casetext import CaseText
from consult.emergency.models import (
    ACTIVE_STATUSES,
    EmergencyCase,
    ReceivingHospital,
    Team,
)
from consult.records.context import COMMAND
from media_core.vitals import VitalsSimulator

HOSPITAL = "Riverside General Hospital (demo)"
POSITION = (53.4794, -2.2453)
# code, name, department, activating categories, member usernames
TEAMS = [
    (
        "cath_lab",
        "Cath lab team",
        "Cardiology",
        ["stemi"],
        ["dr.cardio", "nurse.cardio"],
    ),
    ("stroke", "Stroke team", "Radiology", ["stroke"], ["dr.radio", "dr.radio2"]),
    ("trauma", "Trauma team", "Surgery", ["trauma"], ["dr.surgeon", "nurse.ed"]),
    ("resus", "Resuscitation team", "Emergency", ["cardiac_arrest"], ["nurse.ed"]),
    ("sepsis", "Sepsis team", "Emergency", ["sepsis"], ["nurse.ed"]),
]
# paramedic, scenario, category, age, sex, complaint, minutes of history, km away,
# simulator seed (the one ``make demo``'s simulate_ambulance --resume carries on)
CASES = [
    ("medic.alpha", "stemi", "stemi", 63, "male", "Central chest pain", 6, 7.0, 1),
    ("medic.bravo", "stroke", "stroke", 78, "female", "Left-sided weakness", 4, 12, 2),
]


def _numerics(sim: VitalsSimulator, t: float) -> dict[str, Any]:
    v = sim.numerics_at(t)
    return {
        "values": {
            "hr": round(v.hr),
            "spo2": round(v.spo2),
            "sbp": round(v.sbp),
            "dbp": round(v.dbp),
            "rr": round(v.rr),
            "temp_c": round(v.temp_c, 1),
            "acvpu": v.acvpu,
            "supplemental_o2": v.supplemental_o2,
        }
    }


def _history(
    case: EmergencyCase, paramedic: User, scenario: str, minutes: int, seed: int
) -> None:
    sim = VitalsSimulator(scenario, seed=seed)
    now = timezone.now()
    stream = uuid.uuid4()
    batches = []
    for i, t in enumerate(range(0, minutes * 60, 15)):
        payload = _numerics(sim, float(t))
        batches.append(
            ingest.BatchIn(
                device_id="seed",
                stream_id=stream,
                seq=i,
                kind="numerics",
                sample_t0=now - timedelta(seconds=minutes * 60 - t),
                rate_hz=0,
                n_samples=1,
                payload=payload,
                sha256=ingest.payload_sha256(payload),
            )
        )
    for start in range(0, len(batches), 32):
        ingest.vitals_ingest(
            actor=paramedic,
            case_id=case.pk,
            batches=batches[start : start + 32],
            ctx=COMMAND,
        )


def seed_emergency(*, stdout: Any = None) -> list[EmergencyCase]:
    """Create the hospital's position, its teams and two in-progress cases."""
    hospital = Organisation.objects.get(name=HOSPITAL)
    ReceivingHospital.objects.update_or_create(
        organisation=hospital, defaults={"lat": POSITION[0], "lon": POSITION[1]}
    )
    for code, name, department, categories, members in TEAMS:
        team, _ = Team.objects.update_or_create(
            organisation=hospital,
            code=code,
            defaults={
                "name": name,
                "department": Department.objects.filter(
                    organisation=hospital, name=department
                ).first(),
                "activates_for": categories,
            },
        )
        team.members.set(User.objects.filter(username__in=members))
    cases = []
    for username, scenario, category, age, sex, complaint, minutes, km, seed in CASES:
        paramedic = User.objects.get(username=username)
        existing = EmergencyCase.objects.filter(
            crew_id=paramedic.crew_id, status__in=ACTIVE_STATUSES
        ).first()
        if existing is not None:
            cases.append(existing)
            continue
        with transaction.atomic():
            case = services.case_open(
                actor=paramedic,
                destination_id=hospital.pk,
                category=category,
                estimated_age=age,
                sex=sex,
                text=CaseText(
                    chief_complaint=f"Synthetic demo: {complaint}",
                    treatment="Synthetic demo: aspirin 300 mg, GTN"
                    if category == "stemi"
                    else "Synthetic demo: glucose checked, nil by mouth",
                ),
                ctx=COMMAND,
                call_received_at=timezone.now() - timedelta(minutes=minutes + 12),
            )
            services.case_depart(actor=paramedic, case_id=case.pk, ctx=COMMAND)
            _history(case, paramedic, scenario, minutes, seed)
            degrees = km / 111.0
            services.location_record(
                actor=paramedic,
                case_id=case.pk,
                lat=POSITION[0] + degrees * 0.7,
                lon=POSITION[1] + degrees * 0.7 / math.cos(math.radians(POSITION[0])),
                at=timezone.now(),
                speed_mps=13.0,
            )
        cases.append(case)
    if stdout is not None:
        stdout.write(
            f"Emergency: {len(TEAMS)} teams, {len(cases)} inbound cases at {hospital}\n"
        )
    return cases


class Command(BaseCommand):
    help = "Teams, the demo hospital's position and two inbound cases (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        seed_emergency(stdout=self.stdout)
