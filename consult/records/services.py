"""Writes on patient records. Each is audited in the same transaction."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from consult.accounts.models import Department
from consult.exceptions import ConsultError, NotFound
from consult.records import phi as phi_codec
from consult.records.access import parse_patient_id, patient_access, role_gate
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AuditEvent, CareRelationship, Patient
from consult.records.phi import PatientPHI

Action = AuditEvent.Action


class DuplicateMrn(ConsultError):
    """The organisation already has a patient with this MRN."""

    status_code = 409

    def __init__(self) -> None:
        super().__init__(
            "A patient with this MRN already exists.", code="duplicate_mrn"
        )


def _save_new(patient: Patient) -> None:
    try:
        with transaction.atomic():
            patient.save(force_insert=True)
    except IntegrityError as exc:
        raise DuplicateMrn() from exc


def patient_create(*, actor: Any, phi: PatientPHI, ctx: AccessContext) -> Patient:
    """Register a patient in the actor's organisation and link them to the actor.

    Department members link the patient to their department; others (a
    paramedic, an operator) get a personal registration relationship.
    """
    with role_gate(actor=actor, action=Action.CREATE, ctx=ctx), transaction.atomic():
        patient = Patient(id=uuid.uuid4(), organisation=actor.organisation)
        phi_codec.seal(patient, phi)
        patient.full_clean(exclude=["organisation"] if actor.organisation_id else None)
        _save_new(patient)
        link = CareRelationship(patient=patient, created_by=actor)
        if actor.department_id:
            link.kind, link.department = (
                CareRelationship.Kind.DEPARTMENT,
                actor.department,
            )
        else:
            link.kind, link.user = CareRelationship.Kind.REGISTRATION, actor
        link.full_clean()
        link.save()
        audit_event_record(
            actor=actor,
            action=Action.CREATE,
            ctx=ctx,
            object_type="patient",
            object_id=str(patient.pk),
            patient_id=patient.pk,
            explained=True,
            explanation=link.kind,
        )
        return patient


def patient_update(
    *, actor: Any, patient_id: object, changes: dict[str, Any], ctx: AccessContext
) -> tuple[Patient, PatientPHI, str]:
    """Change some PHI fields; the event names the fields changed, never values.

    Returns the saved patient, its new PHI and why the actor may see it.
    """
    with patient_access(
        actor=actor, patient_id=patient_id, action=Action.UPDATE, ctx=ctx
    ) as grant:
        patient = (
            Patient.objects.select_for_update()
            .select_related("organisation")
            .get(pk=grant.patient.pk)
        )
        updated = dataclasses.replace(phi_codec.unseal(patient), **changes)
        phi_codec.seal(patient, updated)
        patient.updated_at = timezone.now()
        try:
            with transaction.atomic():
                patient.save(
                    update_fields=[
                        "phi_ciphertext",
                        "phi_key_id",
                        "mrn_index",
                        "updated_at",
                    ]
                )
        except IntegrityError as exc:
            raise DuplicateMrn() from exc
        grant.extra["fields"] = sorted(changes)
        return patient, updated, grant.explanation


def patient_delete(*, actor: Any, patient_id: object, ctx: AccessContext) -> None:
    """Retire a record (registration error, merged duplicate). Kept, never erased."""
    with patient_access(
        actor=actor, patient_id=patient_id, action=Action.DELETE, ctx=ctx
    ) as grant:
        Patient.objects.filter(pk=grant.patient.pk).update(deleted_at=timezone.now())


def patient_break_glass(
    *, actor: Any, patient_id: object, reason: str, ctx: AccessContext
) -> CareRelationship:
    """Emergency access to a patient of the actor's organisation with no relationship.

    Time-limited, audited as unexplained, and counted by the monitor.
    """
    with (
        role_gate(
            actor=actor, action=Action.BREAK_GLASS, ctx=ctx, patient_id=patient_id
        ),
        transaction.atomic(),
    ):
        pid = parse_patient_id(patient_id)
        patient = Patient.objects.filter(
            pk=pid, organisation_id=actor.organisation_id, deleted_at__isnull=True
        ).first()
        if patient is None:
            raise NotFound()
        now = timezone.now()
        link = CareRelationship(
            patient=patient,
            kind=CareRelationship.Kind.BREAK_GLASS,
            user=actor,
            reason=reason,
            starts_at=now,
            ends_at=now + settings.BREAK_GLASS_DURATION,
            created_by=actor,
        )
        link.full_clean()
        link.save()
        audit_event_record(
            actor=actor,
            action=Action.BREAK_GLASS,
            ctx=ctx,
            object_type="patient",
            object_id=str(patient.pk),
            patient_id=patient.pk,
            explained=False,
            explanation=CareRelationship.Kind.BREAK_GLASS,
            extra={"reason": reason, "until": link.ends_at.isoformat()},
        )
        return link


def department_link(
    *, patient: Patient, department: Department, by: Any, source: str = ""
) -> CareRelationship:
    """Place a patient under a department's care (used by seeding and admission)."""
    link = CareRelationship(
        patient=patient,
        kind=CareRelationship.Kind.DEPARTMENT,
        department=department,
        source=source,
        created_by=by,
    )
    link.full_clean()
    link.save()
    return link
