"""FHIR R4 representations of patient records, validated with fhir.resources."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.patient import Patient as FhirPatient

from consult.records.models import Patient
from consult.records.phi import PatientPHI

MRN_SYSTEM = "urn:telemed:mrn"
_GENDER = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}


def patient_to_fhir(patient: Patient, phi: PatientPHI) -> dict[str, Any]:
    """A validated FHIR R4 Patient; allergies and notes are not part of Patient."""
    telecom = [
        {"system": system, "value": value}
        for system, value in (("phone", phi.phone), ("email", phi.email))
        if value
    ]
    resource = FhirPatient.model_validate(
        {
            "resourceType": "Patient",
            "id": str(patient.pk),
            "meta": {"lastUpdated": patient.updated_at.isoformat()},
            "identifier": [
                {
                    "use": "usual",
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "MR",
                            }
                        ]
                    },
                    "system": f"{MRN_SYSTEM}:{patient.organisation_id}",
                    "value": phi.mrn,
                }
            ],
            "active": patient.deleted_at is None,
            "name": [
                {
                    "use": "official",
                    "family": phi.family_name,
                    "given": [phi.given_name],
                }
            ],
            "gender": _GENDER.get(phi.sex, "unknown"),
            "birthDate": phi.birth_date.isoformat(),
            **({"telecom": telecom} if telecom else {}),
            **({"address": [{"text": phi.address}]} if phi.address else {}),
            "managingOrganization": {"display": patient.organisation.name},
        }
    )
    return resource.model_dump(mode="json", exclude_none=True)
