"""Who may do what to which patient over the API, and what the audit trail says.

Every role is tried against every patient endpoint, for a patient the user has
a care relationship with and for a patient of the same organisation without
one. A patient outside reach is a 404; a role not allowed the action at all is
a 403 ``permission_denied``; both leave a denied audit event.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from consult.accounts.models import Department, Role, User
from consult.records.models import AuditEvent, CareRelationship, Patient
from tests.factories import (
    CareRelationshipFactory,
    HospitalFactory,
    ParamedicFactory,
    PatientFactory,
    UserFactory,
    make_phi,
)

pytestmark = pytest.mark.django_db

Kind = CareRelationship.Kind

NEW_PATIENT = {
    "family_name": "Canarynewfamily",
    "given_name": "Canarynewgiven",
    "birth_date": "1984-03-02",
    "sex": "male",
    "mrn": "NEW-00001",
    "notes": "Canarynewnote registered at the front desk.",
}
UPDATED_NOTES = "Canaryupdatednote after review."

# role -> how a user of that role is built.
USER_BUILDERS: dict[str, Callable[[], User]] = {
    Role.SPECIALIST: lambda: UserFactory(role=Role.SPECIALIST),
    Role.SURGEON: lambda: UserFactory(
        role=Role.SURGEON, department__specialty=Department.Specialty.SURGERY
    ),
    Role.NURSE: lambda: UserFactory(role=Role.NURSE),
    Role.PARAMEDIC: lambda: ParamedicFactory(),
    Role.OPERATOR: lambda: UserFactory(
        role=Role.OPERATOR, department__specialty=Department.Specialty.COMMAND_CENTRE
    ),
    Role.TRAINEE: lambda: UserFactory(role=Role.TRAINEE),
    Role.ADMINISTRATOR: lambda: UserFactory(
        role=Role.ADMINISTRATOR, department=None, organisation=HospitalFactory()
    ),
}

# role -> (relationship kind, linked through "department" or "user").
RELATIONSHIPS: dict[str, tuple[str, str]] = {
    Role.SPECIALIST: (Kind.DEPARTMENT, "department"),
    Role.SURGEON: (Kind.DEPARTMENT, "department"),
    Role.NURSE: (Kind.DEPARTMENT, "department"),
    Role.PARAMEDIC: (Kind.EMERGENCY_CASE, "user"),
    Role.OPERATOR: (Kind.DEPARTMENT, "department"),
    Role.TRAINEE: (Kind.DEPARTMENT, "department"),
    Role.ADMINISTRATOR: (Kind.REGISTRATION, "user"),
}

# The relationship a patient registered by this role gets.
CREATE_KINDS: dict[str, str] = {
    Role.SPECIALIST: Kind.DEPARTMENT,
    Role.SURGEON: Kind.DEPARTMENT,
    Role.NURSE: Kind.DEPARTMENT,
    Role.PARAMEDIC: Kind.REGISTRATION,
    Role.OPERATOR: Kind.DEPARTMENT,
}

ACTIONS: dict[str, str] = {
    "list": AuditEvent.Action.LIST,
    "create": AuditEvent.Action.CREATE,
    "read": AuditEvent.Action.READ,
    "update": AuditEvent.Action.UPDATE,
    "delete": AuditEvent.Action.DELETE,
    "export": AuditEvent.Action.EXPORT,
    "break_glass": AuditEvent.Action.BREAK_GLASS,
}

CALLS: dict[str, Callable[[APIClient, Any], Any]] = {
    "list": lambda client, pid: client.get("/api/patients/"),
    "create": lambda client, pid: client.post(
        "/api/patients/", NEW_PATIENT, format="json"
    ),
    "read": lambda client, pid: client.get(f"/api/patients/{pid}/"),
    "update": lambda client, pid: client.patch(
        f"/api/patients/{pid}/", {"notes": UPDATED_NOTES}, format="json"
    ),
    "delete": lambda client, pid: client.delete(f"/api/patients/{pid}/"),
    "export": lambda client, pid: client.get(f"/api/patients/{pid}/fhir/"),
    "break_glass": lambda client, pid: client.post(
        f"/api/patients/{pid}/break-glass/",
        {"reason": "emergency_treatment"},
        format="json",
    ),
}

# (role, endpoint, with_relationship, expected_status)
MATRIX: list[tuple[str, str, bool, int]] = [
    # specialist: clinical, may break glass, may not delete
    ("specialist", "list", True, 200),
    ("specialist", "list", False, 200),
    ("specialist", "create", True, 201),
    ("specialist", "create", False, 201),
    ("specialist", "read", True, 200),
    ("specialist", "read", False, 404),
    ("specialist", "update", True, 200),
    ("specialist", "update", False, 404),
    ("specialist", "delete", True, 403),
    ("specialist", "delete", False, 403),
    ("specialist", "export", True, 200),
    ("specialist", "export", False, 404),
    ("specialist", "break_glass", True, 201),
    ("specialist", "break_glass", False, 201),
    # surgeon: as specialist
    ("surgeon", "list", True, 200),
    ("surgeon", "list", False, 200),
    ("surgeon", "create", True, 201),
    ("surgeon", "create", False, 201),
    ("surgeon", "read", True, 200),
    ("surgeon", "read", False, 404),
    ("surgeon", "update", True, 200),
    ("surgeon", "update", False, 404),
    ("surgeon", "delete", True, 403),
    ("surgeon", "delete", False, 403),
    ("surgeon", "export", True, 200),
    ("surgeon", "export", False, 404),
    ("surgeon", "break_glass", True, 201),
    ("surgeon", "break_glass", False, 201),
    # nurse: the only role that may retire (soft-delete) a record
    ("nurse", "list", True, 200),
    ("nurse", "list", False, 200),
    ("nurse", "create", True, 201),
    ("nurse", "create", False, 201),
    ("nurse", "read", True, 200),
    ("nurse", "read", False, 404),
    ("nurse", "update", True, 200),
    ("nurse", "update", False, 404),
    ("nurse", "delete", True, 204),
    ("nurse", "delete", False, 404),
    ("nurse", "export", True, 200),
    ("nurse", "export", False, 404),
    ("nurse", "break_glass", True, 201),
    ("nurse", "break_glass", False, 201),
    # paramedic: clinical through emergency cases, no break-glass
    ("paramedic", "list", True, 200),
    ("paramedic", "list", False, 200),
    ("paramedic", "create", True, 201),
    ("paramedic", "create", False, 201),
    ("paramedic", "read", True, 200),
    ("paramedic", "read", False, 404),
    ("paramedic", "update", True, 200),
    ("paramedic", "update", False, 404),
    ("paramedic", "delete", True, 403),
    ("paramedic", "delete", False, 403),
    ("paramedic", "export", True, 200),
    ("paramedic", "export", False, 404),
    ("paramedic", "break_glass", True, 403),
    ("paramedic", "break_glass", False, 403),
    # operator: clinical through the command-centre department, may break glass
    ("operator", "list", True, 200),
    ("operator", "list", False, 200),
    ("operator", "create", True, 201),
    ("operator", "create", False, 201),
    ("operator", "read", True, 200),
    ("operator", "read", False, 404),
    ("operator", "update", True, 200),
    ("operator", "update", False, 404),
    ("operator", "delete", True, 403),
    ("operator", "delete", False, 403),
    ("operator", "export", True, 200),
    ("operator", "export", False, 404),
    ("operator", "break_glass", True, 201),
    ("operator", "break_glass", False, 201),
    # trainee: no patient access at all, relationship or not
    ("trainee", "list", True, 403),
    ("trainee", "list", False, 403),
    ("trainee", "create", True, 403),
    ("trainee", "create", False, 403),
    ("trainee", "read", True, 403),
    ("trainee", "read", False, 403),
    ("trainee", "update", True, 403),
    ("trainee", "update", False, 403),
    ("trainee", "delete", True, 403),
    ("trainee", "delete", False, 403),
    ("trainee", "export", True, 403),
    ("trainee", "export", False, 403),
    ("trainee", "break_glass", True, 403),
    ("trainee", "break_glass", False, 403),
    # administrator: no patient access at all, relationship or not
    ("administrator", "list", True, 403),
    ("administrator", "list", False, 403),
    ("administrator", "create", True, 403),
    ("administrator", "create", False, 403),
    ("administrator", "read", True, 403),
    ("administrator", "read", False, 403),
    ("administrator", "update", True, 403),
    ("administrator", "update", False, 403),
    ("administrator", "delete", True, 403),
    ("administrator", "delete", False, 403),
    ("administrator", "export", True, 403),
    ("administrator", "export", False, 403),
    ("administrator", "break_glass", True, 403),
    ("administrator", "break_glass", False, 403),
]

PATIENT_ENDPOINTS = ("read", "update", "delete", "export")
DENIED = [row for row in MATRIX if row[3] in (403, 404)]
ROLE_DENIED = [row for row in MATRIX if row[3] == 403]
NOT_FOUND = [row for row in MATRIX if row[3] == 404]
ROLE_DENIED_ON_PATIENT = [row for row in ROLE_DENIED if row[1] in PATIENT_ENDPOINTS]
ALLOWED_ON_PATIENT = [
    row for row in MATRIX if row[3] < 300 and row[1] in PATIENT_ENDPOINTS
]
ALLOWED_CREATE = [row for row in MATRIX if row[1] == "create" and row[3] == 201]
ALLOWED_BREAK_GLASS = [
    row for row in MATRIX if row[1] == "break_glass" and row[3] == 201
]
CLINICAL = ["specialist", "surgeon", "nurse", "paramedic", "operator"]


@dataclass
class Scene:
    """A user of one role, a patient they are linked to and one they are not."""

    user: User
    client: APIClient
    related: Patient
    unrelated: Patient
    kind: str

    def target(self, with_relationship: bool) -> Patient:
        """The patient an endpoint is tried against."""
        return {True: self.related, False: self.unrelated}[with_relationship]


def build_scene(role: str) -> Scene:
    """Build the user, both patients (same organisation) and the relationship."""
    user = USER_BUILDERS[role]()
    kind, via = RELATIONSHIPS[role]
    related = PatientFactory(organisation=user.organisation, phi=make_phi(1))
    unrelated = PatientFactory(organisation=user.organisation, phi=make_phi(2))
    target = {"department": {"department": user.department}, "user": {"user": user}}
    CareRelationshipFactory(patient=related, kind=kind, **target[via])
    client = APIClient()
    client.force_authenticate(user=user)
    return Scene(user, client, related, unrelated, kind)


def stored_state(patient: Patient) -> tuple[object, ...]:
    """Counts of patients and relationships, and ``patient``'s stored row."""
    row = Patient.objects.get(pk=patient.pk)
    return (
        Patient.objects.count(),
        CareRelationship.objects.count(),
        row.phi_ciphertext,
        row.updated_at,
        row.deleted_at,
    )


def events_of(user: User, **filters: Any) -> list[AuditEvent]:
    """The audit events ``user`` caused, matching ``filters``."""
    return list(AuditEvent.objects.filter(actor_id=user.pk, **filters))


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), MATRIX
)
def test_status(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """Each role gets the status the access rules give it on each endpoint."""
    scene = build_scene(role)
    patient = scene.target(with_relationship)

    response = CALLS[endpoint](scene.client, patient.pk)

    assert response.status_code == expected_status, response.content


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), ROLE_DENIED
)
def test_role_refusal_says_permission_denied(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """A role not allowed the action at all gets the JSON error permission_denied."""
    scene = build_scene(role)

    response = CALLS[endpoint](scene.client, scene.target(with_relationship).pk)

    assert response.json() == {"detail": "Not permitted.", "code": "permission_denied"}


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), NOT_FOUND
)
def test_patient_outside_reach_looks_absent(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """A patient without a care relationship answers exactly like a missing one."""
    scene = build_scene(role)

    outside = CALLS[endpoint](scene.client, scene.unrelated.pk)
    missing = CALLS[endpoint](scene.client, uuid.uuid4())

    assert (
        outside.json()
        == missing.json()
        == {
            "detail": "Not found.",
            "code": "not_found",
        }
    )


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), DENIED
)
def test_denied_attempt_is_audited(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """A refused attempt leaves exactly one denied event for its action, via the API."""
    scene = build_scene(role)

    CALLS[endpoint](scene.client, scene.target(with_relationship).pk)

    denied = events_of(scene.user, outcome=AuditEvent.Outcome.DENIED)
    assert [(e.action, e.channel) for e in denied] == [(ACTIONS[endpoint], "api")]


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), DENIED
)
def test_denied_attempt_changes_nothing(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """A refused attempt creates, changes, retires and unlocks nothing."""
    scene = build_scene(role)
    patient = scene.target(with_relationship)
    before = stored_state(patient)

    CALLS[endpoint](scene.client, patient.pk)

    assert stored_state(patient) == before


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), NOT_FOUND
)
def test_not_found_attempt_names_the_patient(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """A denied attempt on a patient outside reach records which patient was tried."""
    scene = build_scene(role)

    CALLS[endpoint](scene.client, scene.unrelated.pk)

    (event,) = events_of(scene.user, outcome=AuditEvent.Outcome.DENIED)
    assert (event.patient_id, event.extra) == (
        scene.unrelated.pk,
        {"code": "not_found"},
    )


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"),
    ROLE_DENIED_ON_PATIENT,
)
def test_role_refusal_names_the_patient(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """A role refused on one patient's record still records which patient was tried."""
    scene = build_scene(role)
    patient = scene.target(with_relationship)

    CALLS[endpoint](scene.client, patient.pk)

    (event,) = events_of(scene.user, outcome=AuditEvent.Outcome.DENIED)
    assert (event.patient_id, event.extra) == (
        patient.pk,
        {"code": "permission_denied"},
    )


@pytest.mark.parametrize("role", ["paramedic", "trainee", "administrator"])
def test_break_glass_refusal_names_the_patient(role: str) -> None:
    """A role refused break-glass still records which patient was tried."""
    scene = build_scene(role)

    CALLS["break_glass"](scene.client, scene.unrelated.pk)

    (event,) = events_of(scene.user, outcome=AuditEvent.Outcome.DENIED)
    assert event.patient_id == scene.unrelated.pk


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), ALLOWED_ON_PATIENT
)
def test_allowed_access_is_explained_by_the_relationship(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """An allowed read/update/delete/export is audited as explained by its kind."""
    scene = build_scene(role)

    CALLS[endpoint](scene.client, scene.related.pk)

    allowed = events_of(scene.user, outcome=AuditEvent.Outcome.ALLOWED)
    assert [
        (e.action, e.patient_id, e.explained, e.explanation, e.channel) for e in allowed
    ] == [(ACTIONS[endpoint], scene.related.pk, True, scene.kind, "api")]


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), ALLOWED_CREATE
)
def test_create_is_audited_with_the_new_relationship(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """Registering a patient is audited as explained by the relationship it creates."""
    scene = build_scene(role)

    response = CALLS[endpoint](scene.client, None)

    (event,) = events_of(scene.user, action=AuditEvent.Action.CREATE)
    assert (
        event.outcome,
        str(event.patient_id),
        event.explained,
        event.explanation,
    ) == (AuditEvent.Outcome.ALLOWED, response.json()["id"], True, CREATE_KINDS[role])


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), ALLOWED_CREATE
)
def test_create_links_patient_to_department_or_registrar(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """A new patient joins the actor's organisation, linked as CREATE_KINDS says."""
    scene = build_scene(role)

    response = CALLS[endpoint](scene.client, None)

    patient = Patient.objects.get(pk=response.json()["id"])
    link = patient.care_relationships.get()
    linked_to = {
        Kind.DEPARTMENT: (scene.user.department_id, None),
        Kind.REGISTRATION: (None, scene.user.pk),
    }
    assert (
        patient.organisation_id,
        link.kind,
        (link.department_id, link.user_id),
        link.created_by_id,
    ) == (
        scene.user.organisation_id,
        CREATE_KINDS[role],
        linked_to[CREATE_KINDS[role]],
        scene.user.pk,
    )


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), ALLOWED_CREATE
)
def test_create_response_names_the_access_reason(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """The created record's access_reason is the relationship actually created."""
    scene = build_scene(role)

    response = CALLS[endpoint](scene.client, None)

    assert response.json()["access_reason"] == CREATE_KINDS[role]


@pytest.mark.parametrize(
    ("role", "endpoint", "with_relationship", "expected_status"), ALLOWED_BREAK_GLASS
)
def test_break_glass_is_audited_as_unexplained(
    role: str, endpoint: str, with_relationship: bool, expected_status: int
) -> None:
    """Breaking the glass is an allowed, unexplained event naming the reason."""
    scene = build_scene(role)
    patient = scene.target(with_relationship)

    CALLS[endpoint](scene.client, patient.pk)

    (event,) = events_of(scene.user, action=AuditEvent.Action.BREAK_GLASS)
    assert (
        event.outcome,
        event.patient_id,
        event.explained,
        event.explanation,
        event.extra["reason"],
    ) == (
        AuditEvent.Outcome.ALLOWED,
        patient.pk,
        False,
        Kind.BREAK_GLASS,
        "emergency_treatment",
    )


@pytest.mark.parametrize("role", ["specialist", "surgeon", "nurse", "operator"])
def test_break_glass_opens_the_record_for_four_hours(role: str) -> None:
    """After breaking the glass the user reads the patient, unexplained, for 4 h."""
    scene = build_scene(role)
    CALLS["break_glass"](scene.client, scene.unrelated.pk)

    response = scene.client.get(f"/api/patients/{scene.unrelated.pk}/")

    link = scene.unrelated.care_relationships.get(kind=Kind.BREAK_GLASS)
    assert (
        response.status_code,
        response.json()["access_reason"],
        (link.ends_at - link.starts_at).total_seconds(),
        link.user_id,
    ) == (200, Kind.BREAK_GLASS, 4 * 3600, scene.user.pk)


def test_break_glass_into_another_organisation_is_not_found() -> None:
    """Break-glass reaches only the user's own organisation; others look absent."""
    scene = build_scene("specialist")
    foreign = PatientFactory(organisation=HospitalFactory(), phi=make_phi(3))

    response = CALLS["break_glass"](scene.client, foreign.pk)

    assert (response.status_code, foreign.care_relationships.count()) == (404, 0)


def test_break_glass_needs_a_known_reason() -> None:
    """A free-text reason is refused; no relationship is created."""
    scene = build_scene("specialist")

    response = scene.client.post(
        f"/api/patients/{scene.unrelated.pk}/break-glass/",
        {"reason": "curious"},
        format="json",
    )

    assert (
        response.status_code,
        response.json()["code"],
        scene.unrelated.care_relationships.count(),
    ) == (400, "invalid_choice", 0)


@pytest.mark.parametrize("role", CLINICAL)
def test_list_shows_only_related_patients(role: str) -> None:
    """The list holds the related patient and not the unrelated one."""
    scene = build_scene(role)

    response = CALLS["list"](scene.client, None)

    body = response.json()
    assert (body["count"], [row["id"] for row in body["results"]]) == (
        1,
        [str(scene.related.pk)],
    )


@pytest.mark.parametrize("role", CLINICAL)
def test_list_is_one_audit_event_naming_the_page(role: str) -> None:
    """A list is audited once, with the listed ids and the total, and no patient."""
    scene = build_scene(role)

    CALLS["list"](scene.client, None)

    (event,) = events_of(scene.user)
    assert (event.action, event.outcome, event.patient_id, event.extra) == (
        AuditEvent.Action.LIST,
        AuditEvent.Outcome.ALLOWED,
        None,
        {"ids": [str(scene.related.pk)], "total": 1},
    )


def test_delete_is_soft() -> None:
    """A nurse's delete retires the record: the row stays, reads become 404."""
    scene = build_scene("nurse")

    CALLS["delete"](scene.client, scene.related.pk)
    response = CALLS["read"](scene.client, scene.related.pk)

    scene.related.refresh_from_db()
    assert (response.status_code, scene.related.deleted_at is not None) == (404, True)


def test_update_changes_the_record() -> None:
    """An allowed PATCH changes the stored PHI and names only the changed fields."""
    scene = build_scene("specialist")

    CALLS["update"](scene.client, scene.related.pk)
    response = CALLS["read"](scene.client, scene.related.pk)

    (event,) = events_of(scene.user, action=AuditEvent.Action.UPDATE)
    assert (response.json()["notes"], event.extra) == (
        UPDATED_NOTES,
        {"fields": ["notes"]},
    )


def test_export_is_a_fhir_patient() -> None:
    """The export is a FHIR R4 Patient with the MRN as identifier."""
    scene = build_scene("specialist")

    response = CALLS["export"](scene.client, scene.related.pk)

    body = response.json()
    assert (
        response["Content-Type"],
        body["resourceType"],
        body["id"],
        body["identifier"][0]["value"],
        body["name"][0]["family"],
    ) == (
        "application/fhir+json",
        "Patient",
        str(scene.related.pk),
        "MRN-00001",
        "Canaryfamily1",
    )


def test_audit_rows_hold_no_phi() -> None:
    """No PHI value from any endpoint ends up anywhere in an audit row."""
    scene = build_scene("nurse")
    for endpoint in ("list", "create", "read", "update", "export", "break_glass"):
        CALLS[endpoint](scene.client, scene.related.pk)
    CALLS["read"](scene.client, scene.unrelated.pk)
    CALLS["delete"](scene.client, scene.related.pk)

    dumped = json.dumps(list(AuditEvent.objects.values()), default=str).lower()
    canaries = [
        "canary",
        "mrn-0000",
        "new-00001",
        "7700 900000",
        "penicillin",
        "1984-03-02",
    ]
    assert [c for c in canaries if c in dumped] == []


# --- authentication -------------------------------------------------------


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_unauthenticated_request_gets_401(endpoint: str) -> None:
    """Without credentials every patient endpoint answers 401."""
    patient = PatientFactory(phi=make_phi(1))

    response = CALLS[endpoint](APIClient(), patient.pk)

    assert (response.status_code, response.json()["code"]) == (
        401,
        "not_authenticated",
    )


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_unauthenticated_request_is_refused_without_data(endpoint: str) -> None:
    """Without credentials nothing is revealed, created or retired."""
    patient = PatientFactory(phi=make_phi(1))
    before = stored_state(patient)

    response = CALLS[endpoint](APIClient(), patient.pk)

    assert (response.json()["code"], stored_state(patient)) == (
        "not_authenticated",
        before,
    )


def device_token(user: User) -> tuple[int, str]:
    """Create a device token through the API from a session; (id, raw token)."""
    session = APIClient()
    session.force_login(user)
    response = session.post("/api/tokens/", {"name": "ward tablet"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"], response.json()["token"]


def token_client(raw: str) -> APIClient:
    """A client that authenticates only with ``Authorization: Token <raw>``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


def test_device_token_reads_a_related_patient() -> None:
    """A token made from a session reads the user's patient, audited as the user."""
    scene = build_scene("paramedic")
    _, raw = device_token(scene.user)

    response = token_client(raw).get(f"/api/patients/{scene.related.pk}/")

    (event,) = events_of(scene.user, action=AuditEvent.Action.READ)
    assert (response.status_code, response.json()["mrn"], event.channel) == (
        200,
        "MRN-00001",
        "api",
    )


def test_device_token_is_stored_hashed() -> None:
    """The raw token is not stored; only its prefix and hash are."""
    user = UserFactory()
    token_id, raw = device_token(user)

    stored = user.tokens.get(pk=token_id)

    assert (raw in stored.key_hash, stored.prefix) == (False, raw[:8])


def test_revoked_device_token_is_refused() -> None:
    """After revocation the token no longer reads anything: code invalid_token."""
    scene = build_scene("specialist")
    token_id, raw = device_token(scene.user)
    session = APIClient()
    session.force_login(scene.user)
    session.delete(f"/api/tokens/{token_id}/")

    response = token_client(raw).get(f"/api/patients/{scene.related.pk}/")

    assert (
        response.json(),
        events_of(scene.user, action=AuditEvent.Action.READ),
    ) == ({"detail": "Invalid token.", "code": "invalid_token"}, [])


def test_wrong_device_token_is_refused() -> None:
    """An unknown token reads nothing: code invalid_token."""
    scene = build_scene("specialist")
    device_token(scene.user)

    response = token_client("not-the-token").get(f"/api/patients/{scene.related.pk}/")

    assert (
        response.json(),
        events_of(scene.user, action=AuditEvent.Action.READ),
    ) == ({"detail": "Invalid token.", "code": "invalid_token"}, [])


@pytest.mark.parametrize("revoked", [True, False], ids=["revoked", "wrong"])
def test_bad_device_token_gets_401(revoked: bool) -> None:
    """A revoked or unknown token answers 401 invalid_token."""
    scene = build_scene("specialist")
    token_id, raw = device_token(scene.user)
    session = APIClient()
    session.force_login(scene.user)
    session.delete(f"/api/tokens/{token_id}/")
    presented = {True: raw, False: "not-the-token"}[revoked]

    response = token_client(presented).get(f"/api/patients/{scene.related.pk}/")

    assert (response.status_code, response.json()["code"]) == (401, "invalid_token")
