"""Bad input to the patient API: a stable error code, and nothing changed.

Every case is sent by a specialist whose department cares for the patient, so
a refusal can only come from the input itself.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consult.accounts.models import Role, User
from consult.records import phi as phi_codec
from consult.records.models import CareRelationship, Patient
from tests.factories import (
    CareRelationshipFactory,
    PatientFactory,
    UserFactory,
    make_phi,
)

pytestmark = pytest.mark.django_db

VALID = {
    "family_name": "Canarynewfamily",
    "given_name": "Canarynewgiven",
    "birth_date": "1984-03-02",
    "sex": "male",
    "mrn": "NEW-00001",
}
LIMIT = 256 * 1024


def _future(days: int = 2) -> str:
    """An ISO date ``days`` after today (2 by default: safe across midnight)."""
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def _huge(body: dict[str, object]) -> str:
    """``body`` padded with a notes field well past the 256 KiB body limit."""
    return json.dumps({**body, "notes": "x" * (LIMIT + 1024)})


# (id, raw POST body, status, code); each body is otherwise a valid patient.
BAD_CREATES = [
    (
        "birth_date_word",
        json.dumps({**VALID, "birth_date": "yesterday"}),
        400,
        "invalid",
    ),
    ("sex_number", json.dumps({**VALID, "sex": 5}), 400, "invalid_choice"),
    ("allergies_string", json.dumps({**VALID, "allergies": "x"}), 400, "not_a_list"),
    ("unknown_field", json.dumps({**VALID, "ssn": "123"}), 400, "unknown_field"),
    ("json_list", json.dumps([VALID]), 400, "invalid"),
    ("malformed_json", '{"family_name": "Canary', 400, "malformed_json"),
    ("nan", json.dumps({**VALID, "sex": float("nan")}), 400, "malformed_json"),
    ("infinity", json.dumps({**VALID, "sex": float("inf")}), 400, "malformed_json"),
    ("not_utf8", b'{"family_name": "\xff"}', 400, "malformed_json"),
    ("huge", _huge(VALID), 413, "payload_too_large"),
    ("long_notes", json.dumps({**VALID, "notes": "n" * 10_001}), 400, "max_length"),
    (
        "future_birth",
        json.dumps({**VALID, "birth_date": _future()}),
        400,
        "birth_date_in_future",
    ),
]
# (id, raw PATCH body, status, code)
BAD_PATCHES = [
    ("birth_date_word", json.dumps({"birth_date": "yesterday"}), 400, "invalid"),
    ("sex_number", json.dumps({"sex": 5}), 400, "invalid_choice"),
    ("allergies_string", json.dumps({"allergies": "x"}), 400, "not_a_list"),
    ("unknown_field", json.dumps({"notes": "ok", "ssn": "1"}), 400, "unknown_field"),
    ("json_list", json.dumps([{"notes": "ok"}]), 400, "invalid"),
    ("malformed_json", '{"notes": ', 400, "malformed_json"),
    ("nan", '{"notes": NaN}', 400, "malformed_json"),
    ("not_utf8", b'{"notes": "\xff"}', 400, "malformed_json"),
    ("huge", _huge({}), 413, "payload_too_large"),
    ("long_notes", json.dumps({"notes": "n" * 10_001}), 400, "max_length"),
    (
        "future_birth",
        json.dumps({"birth_date": _future()}),
        400,
        "birth_date_in_future",
    ),
    ("empty_family_name", json.dumps({"family_name": ""}), 400, "blank"),
    ("bad_mrn", json.dumps({"mrn": "no spaces allowed"}), 400, "invalid"),
]


@dataclass
class Ward:
    """A specialist, a patient in their department's care, and its stored state."""

    user: User
    client: APIClient
    patient: Patient
    before: tuple[object, ...]


@pytest.fixture
def ward() -> Ward:
    """One specialist and one of their department's patients."""
    user = UserFactory(role=Role.SPECIALIST)
    patient = PatientFactory(organisation=user.organisation, phi=make_phi(1))
    CareRelationshipFactory(
        patient=patient,
        kind=CareRelationship.Kind.DEPARTMENT,
        department=user.department,
    )
    client = APIClient()
    client.force_authenticate(user=user)
    ward = Ward(user, client, patient, ())
    ward.before = stored_state(ward)
    return ward


def post_raw(client: APIClient, body: str | bytes) -> object:
    """POST a raw JSON body to the patient list."""
    return client.post("/api/patients/", data=body, content_type="application/json")


def patch_raw(client: APIClient, patient: Patient, body: str | bytes) -> object:
    """PATCH a raw JSON body onto ``patient``."""
    return client.patch(
        f"/api/patients/{patient.pk}/", data=body, content_type="application/json"
    )


def stored_state(ward: Ward) -> tuple[object, ...]:
    """What must not change: counts, and the patient's row byte for byte."""
    patient = Patient.objects.get(pk=ward.patient.pk)
    return (
        Patient.objects.count(),
        CareRelationship.objects.count(),
        patient.phi_ciphertext,
        patient.updated_at,
        patient.deleted_at,
    )


def unchanged(ward: Ward) -> tuple[object, ...]:
    """The state ``stored_state`` reported before the request."""
    return ward.before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [case[1:] for case in BAD_CREATES],
    ids=[case[0] for case in BAD_CREATES],
)
def test_bad_create_answers_stable_code(
    ward: Ward, body: str, status: int, code: str
) -> None:
    """A bad POST body answers its status and stable JSON error code."""
    response = post_raw(ward.client, body)

    assert (response.status_code, response.json()["code"]) == (status, code)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [case[1:] for case in BAD_CREATES],
    ids=[case[0] for case in BAD_CREATES],
)
def test_bad_create_changes_nothing(
    ward: Ward, body: str, status: int, code: str
) -> None:
    """A bad POST body creates no patient and no relationship."""
    post_raw(ward.client, body)

    assert stored_state(ward) == unchanged(ward)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [case[1:] for case in BAD_PATCHES],
    ids=[case[0] for case in BAD_PATCHES],
)
def test_bad_patch_answers_stable_code(
    ward: Ward, body: str, status: int, code: str
) -> None:
    """A bad PATCH body answers its status and stable JSON error code."""
    response = patch_raw(ward.client, ward.patient, body)

    assert (response.status_code, response.json()["code"]) == (status, code)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [case[1:] for case in BAD_PATCHES],
    ids=[case[0] for case in BAD_PATCHES],
)
def test_bad_patch_leaves_ciphertext_byte_identical(
    ward: Ward, body: str, status: int, code: str
) -> None:
    """A bad PATCH body leaves the stored ciphertext and timestamps untouched."""
    patch_raw(ward.client, ward.patient, body)

    assert stored_state(ward) == unchanged(ward)


def test_error_body_is_detail_and_code_with_field_errors(ward: Ward) -> None:
    """Validation errors are {"detail", "code", "errors"} naming the bad field."""
    response = post_raw(ward.client, json.dumps({**VALID, "sex": 5}))

    assert response.json() == {
        "detail": "Invalid input.",
        "code": "invalid_choice",
        "errors": {"sex": ['"5" is not a valid choice.']},
    }


def test_tomorrow_is_a_future_birth_date(ward: Ward) -> None:
    """Tomorrow is already refused with code birth_date_in_future."""
    body = {**VALID, "birth_date": _future(days=1)}

    response = post_raw(ward.client, json.dumps(body))

    assert (response.status_code, response.json()["code"]) == (
        400,
        "birth_date_in_future",
    )


def test_today_is_a_valid_birth_date(ward: Ward) -> None:
    """A newborn registered today is accepted (the boundary of the future check)."""
    body = {**VALID, "birth_date": timezone.localdate().isoformat()}

    response = post_raw(ward.client, json.dumps(body))

    assert response.status_code == 201, response.content


def test_notes_at_the_limit_are_accepted(ward: Ward) -> None:
    """Exactly 10 000 characters of notes are accepted (the boundary)."""
    response = patch_raw(ward.client, ward.patient, json.dumps({"notes": "n" * 10_000}))

    assert response.status_code == 200, response.content


def test_body_of_exactly_the_limit_is_parsed(ward: Ward) -> None:
    """A body of exactly the limit is parsed (and then judged on its fields)."""
    padding = LIMIT - len(json.dumps({"notes": ""}))
    body = json.dumps({"notes": "n" * padding})

    response = patch_raw(ward.client, ward.patient, body)

    assert (len(body), response.status_code, response.json()["code"]) == (
        LIMIT,
        400,
        "max_length",
    )


def test_deeply_nested_json_is_malformed(ward: Ward) -> None:
    """JSON nested deeper than the parser can go is refused as malformed_json."""
    body = "[" * 50_000 + "]" * 50_000

    response = post_raw(ward.client, body)

    assert (response.status_code, response.json()["code"]) == (400, "malformed_json")


def test_duplicate_mrn_in_organisation_is_a_conflict(ward: Ward) -> None:
    """Registering an MRN the organisation already has answers 409 duplicate_mrn."""
    response = post_raw(ward.client, json.dumps({**VALID, "mrn": "MRN-00001"}))

    assert (response.status_code, response.json()["code"]) == (409, "duplicate_mrn")


def test_duplicate_mrn_create_changes_nothing(ward: Ward) -> None:
    """A refused duplicate registration leaves no patient or relationship behind."""
    post_raw(ward.client, json.dumps({**VALID, "mrn": "MRN-00001"}))

    assert stored_state(ward) == unchanged(ward)


def test_duplicate_mrn_ignores_case(ward: Ward) -> None:
    """MRNs are compared case-insensitively: mrn-00001 duplicates MRN-00001."""
    response = post_raw(ward.client, json.dumps({**VALID, "mrn": "mrn-00001"}))

    assert (response.status_code, stored_state(ward)) == (409, unchanged(ward))


def test_same_mrn_in_another_organisation_is_allowed(ward: Ward) -> None:
    """MRNs are unique per organisation only."""
    PatientFactory(phi=make_phi(7, mrn="NEW-00001"))

    response = post_raw(ward.client, json.dumps(VALID))

    assert response.status_code == 201, response.content


def test_patch_to_duplicate_mrn_is_a_conflict(ward: Ward) -> None:
    """Changing an MRN to one the organisation already has answers 409."""
    PatientFactory(organisation=ward.user.organisation, phi=make_phi(2))

    response = patch_raw(ward.client, ward.patient, json.dumps({"mrn": "MRN-00002"}))

    assert (response.status_code, response.json()["code"]) == (409, "duplicate_mrn")


def test_patch_to_duplicate_mrn_leaves_ciphertext_byte_identical(ward: Ward) -> None:
    """A refused MRN change rolls back: the stored ciphertext is unchanged."""
    PatientFactory(organisation=ward.user.organisation, phi=make_phi(2))

    patch_raw(ward.client, ward.patient, json.dumps({"mrn": "MRN-00002"}))

    patient = Patient.objects.get(pk=ward.patient.pk)
    assert (
        patient.phi_ciphertext,
        patient.mrn_index,
        phi_codec.unseal(patient).mrn,
    ) == (ward.patient.phi_ciphertext, phi_codec.mrn_index("MRN-00001"), "MRN-00001")


BAD_IDS = ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "%20"]
BAD_ID_CALLS = {
    "read": lambda client, pid: client.get(f"/api/patients/{pid}/"),
    "update": lambda client, pid: client.patch(
        f"/api/patients/{pid}/", {"notes": "x"}, format="json"
    ),
    "delete": lambda client, pid: client.delete(f"/api/patients/{pid}/"),
    "export": lambda client, pid: client.get(f"/api/patients/{pid}/fhir/"),
    "break_glass": lambda client, pid: client.post(
        f"/api/patients/{pid}/break-glass/",
        {"reason": "emergency_treatment"},
        format="json",
    ),
}


@pytest.mark.parametrize("endpoint", list(BAD_ID_CALLS))
@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_non_uuid_patient_id_is_not_found(
    ward: Ward, endpoint: str, bad_id: str
) -> None:
    """A patient id that is not a UUID is a plain 404, never a 500."""
    nurse = UserFactory(role=Role.NURSE, department=ward.user.department)
    ward.client.force_authenticate(user=nurse)

    response = BAD_ID_CALLS[endpoint](ward.client, bad_id)

    assert (response.status_code, response.json()) == (
        404,
        {"detail": "Not found.", "code": "not_found"},
    )


@pytest.mark.parametrize("endpoint", list(BAD_ID_CALLS))
def test_non_uuid_patient_id_changes_nothing(ward: Ward, endpoint: str) -> None:
    """A non-UUID id touches no patient and creates no relationship."""
    nurse = UserFactory(role=Role.NURSE, department=ward.user.department)
    ward.client.force_authenticate(user=nurse)

    BAD_ID_CALLS[endpoint](ward.client, "not-a-uuid")

    assert stored_state(ward) == unchanged(ward)


def test_unknown_uuid_is_not_found(ward: Ward) -> None:
    """A well-formed id of no patient is a 404 like any patient outside reach."""
    response = ward.client.get(f"/api/patients/{uuid.uuid4()}/")

    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "min_value"),
        ("limit=51", "max_value"),
        ("limit=ten", "invalid"),
        ("offset=-1", "min_value"),
        ("colour=blue", "unknown_field"),
    ],
)
def test_bad_list_query_answers_stable_code(ward: Ward, query: str, code: str) -> None:
    """Bad list parameters answer 400 with a stable code, not a silent default."""
    response = ward.client.get(f"/api/patients/?{query}")

    assert (response.status_code, response.json()["code"]) == (400, code)
