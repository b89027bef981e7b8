"""Sealing of a case's clinical free text and of attachment bytes (AES-256-GCM).

The associated data binds each ciphertext to its table, column and row, as
``consult.records.phi`` does for patients, so it cannot be moved elsewhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consult.emergency.models import EmergencyCase
from consult.records import crypto

_NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class CaseText:
    """The crew's free text about the patient, decrypted."""

    chief_complaint: str = ""
    mechanism: str = ""
    injuries: str = ""
    treatment: str = ""
    allergies: str = ""
    medications: str = ""
    background: str = ""
    other: str = ""

    def to_json(self) -> str:
        """Canonical JSON of the fields."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> CaseText:
        """Inverse of ``to_json`` (unknown keys from older versions are ignored)."""
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


TEXT_FIELDS = tuple(CaseText.__dataclass_fields__)


def _aad(case_id: object) -> str:
    return f"emergency.case.text:{case_id}"


def seal(case: EmergencyCase, text: CaseText) -> None:
    """Encrypt ``text`` into the case (not saved)."""
    token = crypto.encrypt(text.to_json(), aad=_aad(case.pk))
    case.text_ciphertext = token
    case.text_key_id = crypto.key_id_of(token)


def unseal(case: EmergencyCase) -> CaseText:
    """Decrypt the case's text; raise ``crypto.DecryptionError`` if tampered."""
    if not case.text_ciphertext:
        return CaseText()
    return CaseText.from_json(crypto.decrypt(case.text_ciphertext, aad=_aad(case.pk)))


def _blob_aad(attachment_id: object) -> bytes:
    return f"emergency.attachment:{attachment_id}".encode()


def seal_bytes(data: bytes, *, attachment_id: object) -> tuple[bytes, str]:
    """Encrypt an attachment under the primary PHI key; returns (blob, key id)."""
    ring = crypto.keyring()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(ring.keys[ring.primary]).encrypt(
        nonce, data, _blob_aad(attachment_id)
    )
    return nonce + sealed, ring.primary


def unseal_bytes(blob: bytes, *, attachment_id: object, key_id: str) -> bytes:
    """Decrypt an attachment blob; raises ``cryptography.exceptions.InvalidTag``."""
    key = crypto.keyring().keys.get(key_id)
    if key is None:
        raise crypto.DecryptionError(f"Unknown key id {key_id!r}.")
    return AESGCM(key).decrypt(
        blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _blob_aad(attachment_id)
    )
