"""PHI encryption at rest: AES-256-GCM with key ids, AAD binding, blind index."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from consult.records import crypto
from consult.records import phi as phi_codec
from consult.records.models import Patient
from tests.factories import PatientFactory, make_phi


def _ring(*kids: str) -> crypto.KeyRing:
    spec = ",".join(
        f"{kid}:{base64.b64encode(bytes([i + 7]) * 32).decode()}"
        for i, kid in enumerate(kids)
    )
    return crypto.KeyRing.parse(spec)


@given(st.text())
def test_round_trip_of_any_unicode_text(text: str) -> None:
    """Whatever text goes in comes back out unchanged."""
    ring = _ring("k1")
    assert (
        crypto.decrypt(
            crypto.encrypt(text, aad="t|c|1", ring=ring), aad="t|c|1", ring=ring
        )
        == text
    )


def test_equal_plaintexts_encrypt_differently() -> None:
    """A random nonce makes equal values indistinguishable in storage."""
    ring = _ring("k1")
    assert crypto.encrypt("same", aad="a", ring=ring) != crypto.encrypt(
        "same", aad="a", ring=ring
    )


@pytest.mark.parametrize("position", [10, 20, 30, -3])
def test_tampered_ciphertext_is_refused(position: int) -> None:
    """Flipping any byte of the sealed payload fails authentication."""
    ring = _ring("k1")
    token = crypto.encrypt("Canary secret", aad="a", ring=ring)
    prefix, payload = token.rsplit(":", 1)
    raw = bytearray(base64.b64decode(payload))
    raw[position] ^= 0x01
    tampered = f"{prefix}:{base64.b64encode(bytes(raw)).decode()}"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(tampered, aad="a", ring=ring)


def test_ciphertext_moved_to_another_row_is_refused() -> None:
    """The associated data binds a ciphertext to its row."""
    ring = _ring("k1")
    token = crypto.encrypt("Canary secret", aad="records.patient.phi:1", ring=ring)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, aad="records.patient.phi:2", ring=ring)


def test_unknown_key_id_is_refused() -> None:
    """A token under a key the ring does not hold cannot be read."""
    token = crypto.encrypt("x", aad="a", ring=_ring("old"))
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, aad="a", ring=_ring("new"))


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "nokey",
        "k1:not-base64!",
        f"k1:{base64.b64encode(b'short').decode()}",
        "k-1:AAAA",
    ],
)
def test_malformed_key_specs_are_configuration_errors(spec: str) -> None:
    """Bad PHI_KEYS stop startup rather than encrypting with a weak key."""
    with pytest.raises(ImproperlyConfigured):
        crypto.KeyRing.parse(spec)


def test_blind_index_is_stable_and_normalised(settings) -> None:
    """The same MRN, whatever its case or spacing, gives the same index."""
    assert crypto.blind_index(" mrn-001 ", purpose="p") == crypto.blind_index(
        "MRN-001", purpose="p"
    )


def test_blind_index_depends_on_purpose() -> None:
    """An MRN's index never equals the same string's index for another purpose."""
    assert crypto.blind_index("X", purpose="a") != crypto.blind_index("X", purpose="b")


@pytest.mark.django_db
def test_raw_table_shows_no_plaintext() -> None:
    """A raw SELECT of the patient table reveals no name, MRN or note."""
    PatientFactory(phi=make_phi(42))
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM records_patient")
        dump = repr(cursor.fetchall())
    for canary in ("Canaryfamily42", "Canarygiven42", "MRN-00042", "Canarynote"):
        assert canary not in dump


@pytest.mark.django_db
def test_patient_round_trips_through_the_database() -> None:
    """Sealed PHI read back from the database equals what was stored."""
    phi = make_phi(7, allergies=("Latex", "Iodinated contrast"), notes="Ünïcode ✓")
    patient = PatientFactory(phi=phi)
    assert phi_codec.unseal(Patient.objects.get(pk=patient.pk)) == phi


@pytest.mark.django_db
def test_rotation_keeps_every_record_readable(settings) -> None:
    """New primary key + rotate_phi_key: every record reads and uses the new key."""
    old_spec = settings.PHI_KEYS
    patients = [PatientFactory(phi=make_phi(n)) for n in range(1, 6)]
    settings.PHI_KEYS = f"new1:{base64.b64encode(bytes([9]) * 32).decode()},{old_spec}"

    call_command("rotate_phi_key", "--batch-size", "2", stdout=open("/dev/null", "w"))

    assert set(Patient.objects.values_list("phi_key_id", flat=True)) == {"new1"}
    settings.PHI_KEYS = f"new1:{base64.b64encode(bytes([9]) * 32).decode()}"
    for n, patient in enumerate(patients, start=1):
        assert phi_codec.unseal(Patient.objects.get(pk=patient.pk)) == make_phi(n)


@pytest.mark.django_db
def test_records_under_an_old_key_stay_readable_before_rotation(settings) -> None:
    """A new primary key does not break reading records sealed under the old one."""
    patient = PatientFactory(phi=make_phi(3))
    settings.PHI_KEYS = (
        f"new1:{base64.b64encode(bytes([9]) * 32).decode()},{settings.PHI_KEYS}"
    )
    assert phi_codec.unseal(Patient.objects.get(pk=patient.pk)).mrn == "MRN-00003"
