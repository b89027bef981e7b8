"""FHIR R4 export of a case: Encounter, vitals Observations (LOINC), ECG SampledData.

Codes from ``research/clinical-and-market.md`` section 3.4. Only plausible
values are exported; flagged readings stay in the case's own record. Every
resource is validated with ``fhir.resources`` (R4B) before it is returned.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.encounter import Encounter as FhirEncounter
from fhir.resources.R4B.observation import Observation

from consult.emergency import vitals
from consult.emergency.models import EmergencyCase, Encounter, StreamKind, VitalsBatch
from consult.emergency.selectors import case_get
from consult.records import phi as phi_codec
from consult.records.access import patient_access
from consult.records.context import AccessContext
from consult.records.fhir import patient_to_fhir
from consult.records.models import AuditEvent

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MDC = "urn:oid:2.16.840.1.113883.6.24"
VITAL_SIGNS = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
            "display": "Vital Signs",
        }
    ]
}
# parameter: (LOINC code, display, UCUM unit)
SIMPLE = {
    "hr": ("8867-4", "Heart rate", "/min"),
    "rr": ("9279-1", "Respiratory rate", "/min"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    "temp_c": ("8310-5", "Body temperature", "Cel"),
}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")
ECG_CODE = ("131328", "MDC_ECG_ELEC_POTL")
ECG_LEADS = {"I": "131329", "II": "131330", "III": "131389"}
MAX_OBSERVATION_BATCHES = 2000
ECG_STRIP_SECONDS = 10.0
ENCOUNTER_CLASS = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "code": "EMER",
    "display": "emergency",
}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": round(value, 2), "unit": unit, "system": UCUM, "code": unit}


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _observation(
    obs_id: str, patient_ref: str, at: datetime, code: tuple[str, str], **value: Any
) -> dict[str, Any]:
    return Observation.model_validate(
        {
            "resourceType": "Observation",
            "id": obs_id,
            "status": "final",
            "category": [VITAL_SIGNS],
            "code": _concept(LOINC, *code),
            "subject": {"reference": patient_ref},
            "effectiveDateTime": at.isoformat(),
            **value,
        }
    ).model_dump(mode="json", exclude_none=True)


def numerics_observations(batch: VitalsBatch, patient_ref: str) -> list[dict[str, Any]]:
    """The plausible readings of one numerics batch as vital-sign Observations."""
    valid, _flags = vitals.check_numerics(batch.payload.get("values", {}))
    base = f"{batch.stream_id.hex[:12]}-{batch.seq}"
    out = []
    for name, (code, display, unit) in SIMPLE.items():
        if name in valid:
            out.append(
                _observation(
                    f"{name.replace('_', '')}-{base}",
                    patient_ref,
                    batch.sample_t0,
                    (code, display),
                    valueQuantity=_quantity(valid[name], unit),
                )
            )
    if "sbp" in valid and "dbp" in valid:
        out.append(
            _observation(
                f"bp-{base}",
                patient_ref,
                batch.sample_t0,
                BP_PANEL,
                component=[
                    {
                        "code": _concept(LOINC, *SYSTOLIC),
                        "valueQuantity": _quantity(valid["sbp"], "mm[Hg]"),
                    },
                    {
                        "code": _concept(LOINC, *DIASTOLIC),
                        "valueQuantity": _quantity(valid["dbp"], "mm[Hg]"),
                    },
                ],
            )
        )
    return out


def ecg_observation(
    batches: list[VitalsBatch], patient_ref: str
) -> dict[str, Any] | None:
    """Contiguous ECG batches of one stream as one Observation with SampledData.

    Samples are microvolts: origin 0 uV, factor 1, ``period`` in milliseconds.
    """
    if not batches:
        return None
    first = batches[0]
    samples = [s for b in batches for s in b.payload.get("samples", [])]
    lead = first.payload.get("lead", "II")
    return Observation.model_validate(
        {
            "resourceType": "Observation",
            "id": f"ecg-{first.stream_id.hex[:12]}-{first.seq}",
            "status": "final",
            "category": [
                _concept(
                    "http://terminology.hl7.org/CodeSystem/observation-category",
                    "procedure",
                    "Procedure",
                )
            ],
            "code": _concept(MDC, *ECG_CODE),
            "subject": {"reference": patient_ref},
            "effectiveDateTime": first.sample_t0.isoformat(),
            "component": [
                {
                    "code": _concept(
                        MDC,
                        ECG_LEADS.get(lead, ECG_LEADS["II"]),
                        f"MDC_ECG_ELEC_POTL_{lead}",
                    ),
                    "valueSampledData": {
                        "origin": {
                            "value": 0,
                            "unit": "uV",
                            "system": UCUM,
                            "code": "uV",
                        },
                        "period": round(1000.0 / first.rate_hz, 4),
                        "factor": 1,
                        "dimensions": 1,
                        "data": " ".join(str(int(s)) for s in samples),
                    },
                }
            ],
        }
    ).model_dump(mode="json", exclude_none=True)


def encounter_to_fhir(encounter: Encounter, patient_ref: str) -> dict[str, Any]:
    """The pre-admission as a FHIR Encounter (planned, arrived, in-progress...)."""
    period: dict[str, str] = {}
    start = encounter.arrived_at or encounter.planned_at
    period["start"] = start.isoformat()
    return FhirEncounter.model_validate(
        {
            "resourceType": "Encounter",
            "id": f"ems-{encounter.pk}",
            "status": encounter.status,
            "class": ENCOUNTER_CLASS,
            "subject": {"reference": patient_ref},
            "period": period,
            "serviceProvider": {"display": encounter.department.organisation.name},
            "location": [
                {
                    "location": {
                        "display": f"{encounter.department.name}"
                        + (f", bay {encounter.bay}" if encounter.bay else "")
                    },
                    "status": "planned"
                    if encounter.status == Encounter.Status.PLANNED
                    else "active",
                }
            ],
            "hospitalization": {
                "admitSource": _concept(
                    "http://terminology.hl7.org/CodeSystem/admit-source",
                    "emd",
                    "From accident/emergency department",
                )
            },
        }
    ).model_dump(mode="json", exclude_none=True)


def _latest_ecg(case: EmergencyCase) -> list[list[VitalsBatch]]:
    """Per ECG stream, the last ``ECG_STRIP_SECONDS`` of contiguous stored batches."""
    strips = []
    for stream in case.streams.filter(kind=StreamKind.ECG):
        strip: list[VitalsBatch] = []
        seconds = 0.0
        for batch in VitalsBatch.objects.filter(
            vitals_stream=stream, seq__lte=stream.acked_through
        ).order_by("-seq")[:64]:
            strip.append(batch)
            seconds += batch.n_samples / batch.rate_hz
            if seconds >= ECG_STRIP_SECONDS:
                break
        if strip:
            strips.append(strip[::-1])
    return strips


def case_bundle(case: EmergencyCase) -> dict[str, Any]:
    """A collection Bundle: Patient, Encounter, vitals and the latest ECG strips."""
    patient = case.patient
    patient_ref = f"Patient/{patient.pk}"
    resources = [patient_to_fhir(patient, phi_codec.unseal(patient))]
    encounter = (
        Encounter.objects.filter(case=case)
        .select_related("department__organisation")
        .first()
    )
    if encounter is not None:
        resources.append(encounter_to_fhir(encounter, patient_ref))
    batches = VitalsBatch.objects.filter(case=case, kind=StreamKind.NUMERICS).order_by(
        "sample_t0"
    )[:MAX_OBSERVATION_BATCHES]
    for batch in batches:
        resources += numerics_observations(batch, patient_ref)
    for strip in _latest_ecg(case):
        observation = ecg_observation(strip, patient_ref)
        if observation is not None:
            resources.append(observation)
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "fullUrl": "urn:uuid:"
                    + str(uuid.uuid5(case.pk, f"{r['resourceType']}/{r['id']}")),
                    "resource": r,
                }
                for r in resources
            ],
        }
    )
    return bundle.model_dump(mode="json", exclude_none=True)


def case_export_fhir(
    *, actor: Any, case_id: object, ctx: AccessContext
) -> dict[str, Any]:
    """The case as a FHIR Bundle; audited as an export of its patient."""
    case = case_get(actor, case_id)
    with patient_access(
        actor=actor,
        patient_id=case.patient_id,
        action=AuditEvent.Action.EXPORT,
        ctx=ctx,
    ) as grant:
        grant.object_type, grant.object_id = "emergency_case", str(case.pk)
        grant.extra["format"] = "fhir-r4"
        return case_bundle(grant.patient.emergency_case)
