"""The plaintext view of a patient's identifiers and free text, and its sealing."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date

from consult.records import crypto
from consult.records.models import Patient

MRN_PURPOSE = "patient.mrn"


@dataclass(frozen=True, slots=True)
class PatientPHI:
    """Everything identifying or free-text about a patient, decrypted."""

    family_name: str
    given_name: str
    birth_date: date
    sex: str
    mrn: str
    phone: str = ""
    email: str = ""
    address: str = ""
    allergies: tuple[str, ...] = field(default_factory=tuple)
    notes: str = ""

    @property
    def display_name(self) -> str:
        """``FAMILY, Given`` as clinical lists show it."""
        return f"{self.family_name.upper()}, {self.given_name}"

    def to_json(self) -> str:
        """Canonical JSON of the fields (dates as ISO strings)."""
        data = asdict(self)
        data["birth_date"] = self.birth_date.isoformat()
        data["allergies"] = list(self.allergies)
        return json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    @classmethod
    def from_json(cls, text: str) -> PatientPHI:
        """Inverse of ``to_json``."""
        data = json.loads(text)
        data["birth_date"] = date.fromisoformat(data["birth_date"])
        data["allergies"] = tuple(data.get("allergies", ()))
        return cls(**data)


def _aad(patient: Patient) -> str:
    return f"records.patient.phi:{patient.pk}"


def seal(
    patient: Patient, phi: PatientPHI, *, ring: crypto.KeyRing | None = None
) -> None:
    """Encrypt ``phi`` into ``patient`` (not saved) and refresh the MRN index."""
    token = crypto.encrypt(phi.to_json(), aad=_aad(patient), ring=ring)
    patient.phi_ciphertext = token
    patient.phi_key_id = crypto.key_id_of(token)
    patient.mrn_index = crypto.blind_index(phi.mrn, purpose=MRN_PURPOSE)


def unseal(patient: Patient, *, ring: crypto.KeyRing | None = None) -> PatientPHI:
    """Decrypt ``patient``'s PHI; raise ``crypto.DecryptionError`` if tampered."""
    return PatientPHI.from_json(
        crypto.decrypt(patient.phi_ciphertext, aad=_aad(patient), ring=ring)
    )


def mrn_index(mrn: str) -> str:
    """The blind-index value to look an MRN up by."""
    return crypto.blind_index(mrn, purpose=MRN_PURPOSE)
