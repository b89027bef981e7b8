"""The unusual-access monitor, driven through the API.

Thresholds are pinned per test (window 10 min, 30 distinct patients, 3
unexplained patients, 20 denied attempts), whatever the defaults become.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from consult.accounts.models import Role, User
from consult.records.audit import audit_chain_verify
from consult.records.models import AccessAlert, AuditEvent, CareRelationship, Patient
from tests.factories import (
    CareRelationshipFactory,
    PatientFactory,
    UserFactory,
    make_phi,
)

MAX_DISTINCT = 30
MAX_UNEXPLAINED = 3
MAX_DENIED = 20
MAX_LISTED = 60


@pytest.fixture(autouse=True)
def _thresholds(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ACCESS_MONITOR = {
        "WINDOW": timedelta(minutes=10),
        "MAX_DISTINCT_PATIENTS": MAX_DISTINCT,
        "MAX_UNEXPLAINED_PATIENTS": MAX_UNEXPLAINED,
        "MAX_DENIED_ATTEMPTS": MAX_DENIED,
        "MAX_LISTED_PATIENTS": MAX_LISTED,
    }


@dataclass
class Clinician:
    """A user, their API client, their department's patients and others of theirs."""

    user: User
    client: APIClient
    patients: list[Patient]
    strangers: list[Patient]


def clinician(role: str, *, patients: int, strangers: int = 0) -> Clinician:
    """A department member with ``patients`` in the department's care and
    ``strangers`` of the same organisation without any relationship."""
    user = UserFactory(role=role)
    cared = [
        PatientFactory(organisation=user.organisation, phi=make_phi(n))
        for n in range(1, patients + 1)
    ]
    for patient in cared:
        CareRelationshipFactory(
            patient=patient,
            kind=CareRelationship.Kind.DEPARTMENT,
            department=user.department,
        )
    others = [
        PatientFactory(organisation=user.organisation, phi=make_phi(1000 + n))
        for n in range(strangers)
    ]
    return Clinician(user, client_for(user), cared, others)


def alerts_of(user: User) -> list[str]:
    """The rules of the alerts raised against ``user``."""
    return list(AccessAlert.objects.filter(user=user).values_list("rule", flat=True))


def client_for(user: User) -> APIClient:
    """An API client authenticated as ``user``."""
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def read(client: APIClient, patient_id: object) -> int:
    """GET one patient's record; the status code."""
    return client.get(f"/api/patients/{patient_id}/").status_code


def break_glass(client: APIClient, patient: Patient) -> int:
    """Break the glass into ``patient``; the status code."""
    return client.post(
        f"/api/patients/{patient.pk}/break-glass/",
        {"reason": "emergency_treatment"},
        format="json",
    ).status_code


def administrator_of(user: User) -> User:
    """A new administrator of ``user``'s organisation."""
    return UserFactory(
        role=Role.ADMINISTRATOR, department=None, organisation=user.organisation
    )


def administrator(of: User) -> APIClient:
    """A client for a new administrator of ``of``'s organisation."""
    return client_for(administrator_of(of))


def clear(client: APIClient, alert: AccessAlert) -> object:
    """POST the clear action for ``alert``."""
    return client.post(f"/api/access-alerts/{alert.pk}/clear/")


# --- (a) a scripted scraper -------------------------------------------------


@pytest.fixture
def scraper(db) -> Clinician:  # type: ignore[no-untyped-def]
    """A specialist whose department has 40 patients."""
    return clinician(Role.SPECIALIST, patients=40)


@pytest.fixture
def blocked_scraper(scraper: Clinician) -> Clinician:
    """The scraper after reading 31 patients one after another."""
    for patient in scraper.patients[: MAX_DISTINCT + 1]:
        read(scraper.client, patient.pk)
    return scraper


def test_scraper_is_refused_on_the_31st_patient(scraper: Clinician) -> None:
    """30 distinct patients are read; the 31st is refused with access_blocked."""
    statuses = [read(scraper.client, p.pk) for p in scraper.patients[:MAX_DISTINCT]]
    refused = scraper.client.get(f"/api/patients/{scraper.patients[MAX_DISTINCT].pk}/")

    assert (statuses, refused.status_code, refused.json()["code"]) == (
        [200] * MAX_DISTINCT,
        403,
        "access_blocked",
    )


def test_scraper_raises_a_blocking_volume_alert(blocked_scraper: Clinician) -> None:
    """The 31st patient raises one open, blocking alert with rule volume."""
    alerts = AccessAlert.objects.filter(user=blocked_scraper.user)

    assert [(a.rule, a.blocking, a.cleared_at) for a in alerts] == [
        (AccessAlert.Rule.VOLUME, True, None)
    ]


def test_scraper_block_is_audited(blocked_scraper: Clinician) -> None:
    """The block is an audit event naming the alert and its rule."""
    alert = AccessAlert.objects.get(user=blocked_scraper.user)

    events = AuditEvent.objects.filter(
        actor_id=blocked_scraper.user.pk, action=AuditEvent.Action.BLOCK
    )

    assert [(e.object_type, e.object_id, e.extra) for e in events] == [
        ("access_alert", str(alert.pk), {"rule": AccessAlert.Rule.VOLUME})
    ]


def test_refused_read_is_not_recorded_as_allowed(blocked_scraper: Clinician) -> None:
    """The 31st read rolled back: it is audited as denied, never as allowed."""
    target = blocked_scraper.patients[MAX_DISTINCT].pk

    events = AuditEvent.objects.filter(
        actor_id=blocked_scraper.user.pk, patient_id=target
    )

    assert [(e.action, e.outcome, e.extra) for e in events] == [
        (AuditEvent.Action.READ, AuditEvent.Outcome.DENIED, {"code": "access_blocked"})
    ]


def test_blocked_scraper_cannot_reread_a_patient(blocked_scraper: Clinician) -> None:
    """Once blocked, even a patient already read is refused."""
    response = blocked_scraper.client.get(
        f"/api/patients/{blocked_scraper.patients[0].pk}/"
    )

    assert (response.status_code, response.json()["code"]) == (403, "access_blocked")


def test_blocked_scraper_cannot_list(blocked_scraper: Clinician) -> None:
    """Once blocked, the patient list is refused too."""
    response = blocked_scraper.client.get("/api/patients/")

    assert (response.status_code, response.json()["code"]) == (403, "access_blocked")


def test_blocked_scraper_raises_no_second_alert(blocked_scraper: Clinician) -> None:
    """Refusals because of the block do not pile up further alerts."""
    for patient in blocked_scraper.patients:
        read(blocked_scraper.client, patient.pk)

    assert AccessAlert.objects.filter(user=blocked_scraper.user).count() == 1


def test_block_holds_other_users_harmless(blocked_scraper: Clinician) -> None:
    """A colleague in the same department still reads the same patients."""
    colleague = UserFactory(
        role=Role.SPECIALIST, department=blocked_scraper.user.department
    )

    status = read(client_for(colleague), blocked_scraper.patients[0].pk)

    assert status == 200


# --- (b) a normal shift -----------------------------------------------------


@pytest.mark.django_db
def test_normal_shift_is_never_blocked() -> None:
    """A nurse reading 25 patients, 10 of them three times, is never refused."""
    nurse = clinician(Role.NURSE, patients=25)
    rounds = nurse.patients + nurse.patients[:10] + nurse.patients[:10]

    statuses = [read(nurse.client, p.pk) for p in rounds]

    assert (statuses, alerts_of(nurse.user)) == ([200] * 45, [])


@pytest.mark.django_db
def test_exactly_the_limit_is_never_blocked() -> None:
    """Exactly 30 distinct patients, each read twice, stay within the limit."""
    nurse = clinician(Role.NURSE, patients=MAX_DISTINCT)

    statuses = [read(nurse.client, p.pk) for p in nurse.patients * 2]

    assert (statuses, alerts_of(nurse.user)) == ([200] * 2 * MAX_DISTINCT, [])


@pytest.mark.django_db
def test_reads_outside_the_window_do_not_count(settings) -> None:  # type: ignore[no-untyped-def]
    """With a zero-length window old reads age out: 31 reads are not blocked."""
    settings.ACCESS_MONITOR = {**settings.ACCESS_MONITOR, "WINDOW": timedelta(0)}
    nurse = clinician(Role.NURSE, patients=MAX_DISTINCT + 1)

    statuses = [read(nurse.client, p.pk) for p in nurse.patients]

    assert statuses == [200] * (MAX_DISTINCT + 1)


# --- (c) an administrator clears the alert ----------------------------------


def test_administrator_sees_the_alert(blocked_scraper: Clinician) -> None:
    """The alert list shows the user, rule and open state to an administrator."""
    response = administrator(blocked_scraper.user).get("/api/access-alerts/")

    assert [
        (a["username"], a["rule"], a["blocking"], a["cleared_at"])
        for a in response.json()
    ] == [(blocked_scraper.user.username, "volume", True, None)]


def test_clearing_lifts_the_block(blocked_scraper: Clinician) -> None:
    """After an administrator clears the alert the user reads again."""
    alert = AccessAlert.objects.get(user=blocked_scraper.user)

    cleared = clear(administrator(blocked_scraper.user), alert)
    status = read(blocked_scraper.client, blocked_scraper.patients[0].pk)

    assert (cleared.status_code, cleared.json()["cleared_at"] is None, status) == (
        200,
        False,
        200,
    )


def test_clearing_is_audited_as_unblock(blocked_scraper: Clinician) -> None:
    """The clear is an unblock event by the administrator naming alert and user."""
    alert = AccessAlert.objects.get(user=blocked_scraper.user)
    admin = administrator_of(blocked_scraper.user)

    clear(client_for(admin), alert)

    (event,) = AuditEvent.objects.filter(
        actor_id=admin.pk, action=AuditEvent.Action.UNBLOCK
    )
    assert (
        event.actor_id,
        event.object_id,
        event.extra,
        event.outcome,
        event.channel,
    ) == (
        admin.pk,
        str(alert.pk),
        {"rule": "volume", "user_id": blocked_scraper.user.pk},
        AuditEvent.Outcome.ALLOWED,
        "api",
    )


def test_clearing_twice_audits_once(blocked_scraper: Clinician) -> None:
    """Clearing an already cleared alert is harmless and not audited again."""
    alert = AccessAlert.objects.get(user=blocked_scraper.user)
    admin = administrator(blocked_scraper.user)

    clear(admin, alert)
    second = clear(admin, alert)

    unblocks = AuditEvent.objects.filter(
        action=AuditEvent.Action.UNBLOCK, object_id=str(alert.pk)
    ).count()
    assert (second.status_code, unblocks) == (200, 1)


@pytest.mark.parametrize(
    "role",
    [
        Role.SPECIALIST,
        Role.SURGEON,
        Role.NURSE,
        Role.PARAMEDIC,
        Role.OPERATOR,
        Role.TRAINEE,
    ],
)
def test_non_administrator_cannot_clear(blocked_scraper: Clinician, role: str) -> None:
    """Anyone but an administrator gets 403 permission_denied; the block stays."""
    alert = AccessAlert.objects.get(user=blocked_scraper.user)
    other = client_for(
        UserFactory(role=role, department=blocked_scraper.user.department)
    )

    response = clear(other, alert)

    alert.refresh_from_db()
    assert (response.status_code, response.json()["code"], alert.cleared_at) == (
        403,
        "permission_denied",
        None,
    )


def test_blocked_user_cannot_clear_own_alert(blocked_scraper: Clinician) -> None:
    """The blocked user cannot lift their own block."""
    alert = AccessAlert.objects.get(user=blocked_scraper.user)

    response = clear(blocked_scraper.client, alert)

    alert.refresh_from_db()
    assert (response.status_code, response.json()["code"], alert.cleared_at) == (
        403,
        "permission_denied",
        None,
    )


def test_non_administrator_cannot_list_alerts(blocked_scraper: Clinician) -> None:
    """The alert list is for administrators only."""
    response = blocked_scraper.client.get("/api/access-alerts/")

    assert (response.status_code, response.json()["code"]) == (
        403,
        "permission_denied",
    )


@pytest.mark.django_db
def test_clearing_an_unknown_alert_is_not_found() -> None:
    """Clearing an alert id that does not exist is a 404."""
    admin = client_for(UserFactory(role=Role.ADMINISTRATOR))

    response = admin.post("/api/access-alerts/999999/clear/")

    assert (response.status_code, response.json()["code"]) == (404, "not_found")


# --- (d) unexplained access -------------------------------------------------


@pytest.fixture
def glass_breaker(db) -> Clinician:  # type: ignore[no-untyped-def]
    """A specialist who broke the glass into 4 patients they have no link to."""
    specialist = clinician(Role.SPECIALIST, patients=2, strangers=MAX_UNEXPLAINED + 1)
    for patient in specialist.strangers:
        assert break_glass(specialist.client, patient) == 201
    return specialist


def test_unexplained_reads_block_on_the_4th(glass_breaker: Clinician) -> None:
    """Three break-glass patients are read; reading the 4th is refused."""
    statuses = [read(glass_breaker.client, p.pk) for p in glass_breaker.strangers]

    assert statuses == [200] * MAX_UNEXPLAINED + [403]


def test_unexplained_reads_raise_unexplained_alert(glass_breaker: Clinician) -> None:
    """The refused 4th read raises one blocking alert with rule unexplained."""
    for patient in glass_breaker.strangers:
        read(glass_breaker.client, patient.pk)

    alerts = AccessAlert.objects.filter(user=glass_breaker.user)
    assert [(a.rule, a.blocking) for a in alerts] == [
        (AccessAlert.Rule.UNEXPLAINED, True)
    ]


def test_unexplained_reads_are_audited_as_unexplained(
    glass_breaker: Clinician,
) -> None:
    """The allowed break-glass reads are audited explained=False, break_glass."""
    for patient in glass_breaker.strangers[:MAX_UNEXPLAINED]:
        read(glass_breaker.client, patient.pk)

    reads = AuditEvent.objects.filter(
        actor_id=glass_breaker.user.pk,
        action=AuditEvent.Action.READ,
        outcome=AuditEvent.Outcome.ALLOWED,
    )
    assert {(e.explained, e.explanation) for e in reads} == {(False, "break_glass")}


def test_explained_reads_do_not_count_as_unexplained(
    glass_breaker: Clinician,
) -> None:
    """Reading department patients between break-glass reads does not block."""
    sequence = [
        glass_breaker.strangers[0],
        *glass_breaker.patients,
        glass_breaker.strangers[1],
        glass_breaker.strangers[2],
        *glass_breaker.patients,
    ]

    statuses = [read(glass_breaker.client, p.pk) for p in sequence]

    assert (statuses, alerts_of(glass_breaker.user)) == ([200] * 7, [])


def test_break_glass_alone_is_not_unexplained_access(
    glass_breaker: Clinician,
) -> None:
    """Breaking the glass opens access; only reading the records counts."""
    status = read(glass_breaker.client, glass_breaker.patients[0].pk)

    assert (status, alerts_of(glass_breaker.user)) == (200, [])


# --- (e) probing ------------------------------------------------------------


@pytest.fixture
def prober(db) -> Clinician:  # type: ignore[no-untyped-def]
    """A specialist with one department patient."""
    return clinician(Role.SPECIALIST, patients=1)


def test_twenty_denied_reads_are_tolerated(prober: Clinician) -> None:
    """20 reads of unknown ids are plain 404s and raise no alert."""
    statuses = [read(prober.client, uuid.uuid4()) for _ in range(MAX_DENIED)]

    assert (
        statuses,
        alerts_of(prober.user),
        read(prober.client, prober.patients[0].pk),
    ) == ([404] * MAX_DENIED, [], 200)


def test_probing_raises_a_probing_alert(prober: Clinician) -> None:
    """The 21st denied read (still a 404) raises a blocking probing alert."""
    statuses = [read(prober.client, uuid.uuid4()) for _ in range(MAX_DENIED + 1)]

    alerts = AccessAlert.objects.filter(user=prober.user)
    assert (statuses, [(a.rule, a.blocking) for a in alerts]) == (
        [404] * (MAX_DENIED + 1),
        [(AccessAlert.Rule.PROBING, True)],
    )


def test_probing_blocks_reads_of_own_patients(prober: Clinician) -> None:
    """After probing even the user's own department patient is refused."""
    for _ in range(MAX_DENIED + 1):
        read(prober.client, uuid.uuid4())

    response = prober.client.get(f"/api/patients/{prober.patients[0].pk}/")

    assert (response.status_code, response.json()["code"]) == (403, "access_blocked")


def test_probing_with_patients_outside_reach_blocks(db) -> None:  # type: ignore[no-untyped-def]
    """Denied reads of real patients outside reach count as probing too."""
    specialist = clinician(Role.SPECIALIST, patients=1, strangers=MAX_DENIED + 1)
    for patient in specialist.strangers:
        read(specialist.client, patient.pk)

    assert list(
        AccessAlert.objects.filter(user=specialist.user).values_list("rule", flat=True)
    ) == [AccessAlert.Rule.PROBING]


# --- concurrency ------------------------------------------------------------

THREADS = 8
TARGETS = 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reads_cannot_slip_past_the_volume_limit() -> None:
    """8 clients of one user reading 40 patients at once get exactly 30 records,
    and the audit chain they all appended to still verifies."""
    specialist = clinician(Role.SPECIALIST, patients=TARGETS)
    ids = [str(patient.pk) for patient in specialist.patients]
    start = threading.Barrier(THREADS)

    def worker(chunk: list[str]) -> list[int]:
        try:
            client = client_for(User.objects.get(pk=specialist.user.pk))
            start.wait(timeout=30)
            return [read(client, pid) for pid in chunk]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(worker, ids[i::THREADS]) for i in range(THREADS)]
        statuses = [status for future in futures for status in future.result()]

    assert (
        statuses.count(200),
        statuses.count(403),
        AccessAlert.objects.filter(user=specialist.user).count(),
        audit_chain_verify().ok,
    ) == (MAX_DISTINCT, TARGETS - MAX_DISTINCT, 1, True)


@pytest.mark.django_db
def test_clearing_an_alert_restarts_the_count() -> None:
    """After a clear, the window's blocked reads no longer count against the user."""
    doctor = clinician(Role.SPECIALIST, patients=MAX_DISTINCT + 2)
    for patient in doctor.patients[: MAX_DISTINCT + 1]:
        doctor.client.get(f"/api/patients/{patient.pk}/")
    admin = UserFactory(role=Role.ADMINISTRATOR, department=doctor.user.department)
    alert = AccessAlert.objects.get(user=doctor.user)
    client_for(admin).post(f"/api/access-alerts/{alert.pk}/clear/")
    response = doctor.client.get(f"/api/patients/{doctor.patients[-1].pk}/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_paging_through_many_patients_is_blocked() -> None:
    """A scraper paging past the listing threshold is blocked (rule listing)."""
    doctor = clinician(Role.SPECIALIST, patients=MAX_LISTED + 20)
    statuses = [
        doctor.client.get(f"/api/patients/?limit=20&offset={offset}").status_code
        for offset in range(0, MAX_LISTED + 20, 20)
    ]
    assert statuses == [200, 200, 200, 403]
    assert alerts_of(doctor.user) == ["listing"]


@pytest.mark.django_db
def test_a_department_census_within_the_threshold_is_not_blocked() -> None:
    """Listing the same census again and again never blocks."""
    doctor = clinician(Role.NURSE, patients=45)
    statuses = {
        doctor.client.get("/api/patients/?limit=50").status_code for _ in range(10)
    }
    assert (statuses, alerts_of(doctor.user)) == ({200}, [])


@pytest.mark.django_db
def test_administrator_of_another_organisation_cannot_clear() -> None:
    """Alerts belong to the user's organisation: another's administrator gets 404."""
    doctor = clinician(Role.SPECIALIST, patients=MAX_DISTINCT + 1)
    for patient in doctor.patients:
        doctor.client.get(f"/api/patients/{patient.pk}/")
    outsider = UserFactory(role=Role.ADMINISTRATOR)
    alert = AccessAlert.objects.get(user=doctor.user)
    listed = client_for(outsider).get("/api/access-alerts/").json()
    cleared = client_for(outsider).post(f"/api/access-alerts/{alert.pk}/clear/")
    assert (listed, cleared.status_code) == ([], 404)
