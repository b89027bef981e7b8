"""Audited reads of patient records, always scoped by the acting user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction

from consult.records import monitor
from consult.records import phi as phi_codec
from consult.records.access import (
    block_for,
    patient_access,
    reachable_patients,
    role_gate,
)
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.fhir import patient_to_fhir
from consult.records.models import AuditEvent, Patient
from consult.records.phi import PatientPHI

Action = AuditEvent.Action


@dataclass(frozen=True, slots=True)
class PatientSummary:
    """A row of a patient list: enough to pick the right patient, no free text."""

    id: str
    display_name: str
    birth_date: date
    sex: str
    mrn: str


@dataclass(frozen=True, slots=True)
class PatientDetail:
    """A decrypted patient record and why the acting user may see it."""

    id: str
    organisation: str
    phi: PatientPHI
    explanation: str
    created_at: datetime
    updated_at: datetime


def _summary(patient: Patient) -> PatientSummary:
    phi = phi_codec.unseal(patient)
    return PatientSummary(
        id=str(patient.pk),
        display_name=phi.display_name,
        birth_date=phi.birth_date,
        sex=phi.sex,
        mrn=phi.mrn,
    )


def patient_list(
    *,
    actor: Any,
    ctx: AccessContext,
    mrn: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PatientSummary], int]:
    """Patients the actor may see (optionally one MRN exactly), sorted by name.

    The whole page is one ``list`` audit event holding the patient ids.
    """
    with role_gate(actor=actor, action=Action.LIST, ctx=ctx), transaction.atomic():
        queryset = reachable_patients(actor).select_related("organisation")
        if mrn is not None:
            queryset = queryset.filter(mrn_index=phi_codec.mrn_index(mrn))
        # Names are encrypted, so sorting happens after decryption; the
        # reachable set is bounded by care relationships, not the whole table.
        summaries = sorted(
            (_summary(patient) for patient in queryset),
            key=lambda s: (s.display_name, s.id),
        )
        page = summaries[offset : offset + limit]
        audit_event_record(
            actor=actor,
            action=Action.LIST,
            ctx=ctx,
            object_type="patient",
            extra={"ids": [s.id for s in page], "total": len(summaries)},
        )
        rule = monitor.rule_fired_by_listing(actor)
        if rule is not None:
            block_for(rule)
        return page, len(summaries)


def patient_detail_of(
    patient: Patient, phi: PatientPHI, *, explanation: str
) -> PatientDetail:
    """Build a detail from data the caller was just granted (no extra audit event)."""
    return PatientDetail(
        id=str(patient.pk),
        organisation=patient.organisation.name,
        phi=phi,
        explanation=explanation,
        created_at=patient.created_at,
        updated_at=patient.updated_at,
    )


def patient_get(*, actor: Any, patient_id: object, ctx: AccessContext) -> PatientDetail:
    """One patient's record; raises ``NotFound`` if outside the actor's reach."""
    with patient_access(
        actor=actor, patient_id=patient_id, action=Action.READ, ctx=ctx
    ) as grant:
        return patient_detail_of(
            grant.patient,
            phi_codec.unseal(grant.patient),
            explanation=grant.explanation,
        )


def patient_export_fhir(
    *, actor: Any, patient_id: object, ctx: AccessContext
) -> dict[str, Any]:
    """The patient as a FHIR R4 Patient (JSON-ready dict); audited as export."""
    with patient_access(
        actor=actor, patient_id=patient_id, action=Action.EXPORT, ctx=ctx
    ) as grant:
        grant.extra["format"] = "fhir-r4"
        return patient_to_fhir(grant.patient, phi_codec.unseal(grant.patient))


def patient_labels(
    *, actor: Any, patient_ids: list[Any], ctx: AccessContext
) -> dict[str, str]:
    """Display names of the given patients that the actor may see, keyed by id.

    For calendars and lists that belong to another object (appointments,
    cases). Patients outside reach are simply absent. One ``list`` event.
    """
    if not patient_ids:
        return {}
    patients = reachable_patients(actor).filter(pk__in=patient_ids)
    labels = {str(p.pk): phi_codec.unseal(p).display_name for p in patients}
    if labels:
        audit_event_record(
            actor=actor,
            action=Action.LIST,
            ctx=ctx,
            object_type="patient",
            extra={"ids": sorted(labels)},
        )
    return labels
