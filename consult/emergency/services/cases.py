"""Open a case for an unidentified patient; the crew corrects it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from consult.accounts.models import Department, Organisation, Role, User
from consult.emergency import casetext, video
from consult.emergency.casetext import CaseText
from consult.emergency.models import CaseEvent, Category, EmergencyCase
from consult.emergency.selectors import crew_case_get, require_crew
from consult.emergency.services._common import (
    Action,
    _event,
    _link_department,
    _link_user,
    _locked,
    _publish,
)
from consult.exceptions import NotFound
from consult.records import phi as phi_codec
from consult.records.access import patient_access, role_gate
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import CareRelationship, Patient
from consult.records.phi import PatientPHI

# Departments that watch every inbound case from the moment it opens.
RECEIVING_SPECIALTIES = (
    Department.Specialty.EMERGENCY,
    Department.Specialty.COMMAND_CENTRE,
)


def _unidentified_patient_phi(
    case_id: uuid.UUID, category: str, age: int | None, sex: str
) -> PatientPHI:
    year = timezone.now().year - (age if age is not None else 0)
    return PatientPHI(
        family_name="Unknown",
        given_name=Category(category).label,
        # An estimated age is stored as 1 January of the estimated birth year.
        birth_date=date(year, 1, 1) if age is not None else date(1900, 1, 1),
        sex=sex,
        mrn=f"EMS-{case_id.hex[:16].upper()}",
        notes="Unidentified emergency patient: identity not yet confirmed.",
    )


def case_open(
    *,
    actor: Any,
    destination_id: int,
    category: str,
    estimated_age: int | None,
    sex: str,
    text: CaseText,
    ctx: AccessContext,
    consent_to_broadcast: bool = False,
    call_received_at: datetime | None = None,
) -> EmergencyCase:
    """A paramedic opens a case for an unnamed patient bound for a hospital.

    Creates the unidentified patient ("Unknown, <category>") and the case's
    video room, links the patient to the crew's paramedics and the hospital's
    emergency and command-centre departments, and tells the hospital's boards.
    """
    require_crew(actor)
    with role_gate(actor=actor, action=Action.CREATE, ctx=ctx), transaction.atomic():
        destination = Organisation.objects.filter(
            pk=destination_id, kind=Organisation.Kind.HOSPITAL
        ).first()
        if destination is None:
            raise NotFound("Unknown destination hospital.", code="unknown_destination")
        now = timezone.now()
        case_id = uuid.uuid4()
        patient = Patient(id=uuid.uuid4(), organisation=actor.organisation)
        phi_codec.seal(
            patient, _unidentified_patient_phi(case_id, category, estimated_age, sex)
        )
        patient.full_clean()
        patient.save(force_insert=True)
        case = EmergencyCase(
            id=case_id,
            service=actor.organisation,
            crew=actor.crew,
            destination=destination,
            patient=patient,
            opened_by=actor,
            category=category,
            estimated_age=estimated_age,
            sex=sex,
            consent_to_broadcast=consent_to_broadcast,
            call_received_at=min(call_received_at or now, now),
            opened_at=now,
        )
        casetext.seal(case, text)
        case.room = video.video_room_create(case=case, actor=actor)
        case.full_clean()
        case.save(force_insert=True)
        source = f"emergency_case:{case.pk}"
        crew_members = User.objects.filter(
            crew_id=actor.crew_id, role=Role.PARAMEDIC, is_active=True
        )
        for member in {actor, *crew_members}:
            _link_user(patient, member, actor, source)
        for department in Department.objects.filter(
            organisation=destination, specialty__in=RECEIVING_SPECIALTIES
        ):
            _link_department(patient, department, actor, source)
        _event(case, CaseEvent.Kind.OPENED, actor, {"category": category})
        audit_event_record(
            actor=actor,
            action=Action.CREATE,
            ctx=ctx,
            object_type="emergency_case",
            object_id=str(case.pk),
            patient_id=patient.pk,
            explained=True,
            explanation=CareRelationship.Kind.EMERGENCY_CASE,
        )
        _publish(case)
        return case


@transaction.atomic
def case_update(
    *, actor: Any, case_id: object, changes: Mapping[str, Any], ctx: AccessContext
) -> EmergencyCase:
    """The crew corrects the case: text fields, category, age, sex, consent."""
    case = crew_case_get(actor, case_id)
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.UPDATE, ctx=ctx
    ) as grant:
        case = _locked(case)
        text_changes = {k: v for k, v in changes.items() if k in casetext.TEXT_FIELDS}
        if text_changes:
            casetext.seal(case, replace(casetext.unseal(case), **text_changes))
        for name in ("category", "estimated_age", "sex", "consent_to_broadcast"):
            if name in changes:
                setattr(case, name, changes[name])
        case.updated_at = timezone.now()
        case.full_clean()
        case.save()
        grant.object_type, grant.object_id = "emergency_case", str(case.pk)
        grant.extra["fields"] = sorted(changes)
        _publish(case)
        return case
