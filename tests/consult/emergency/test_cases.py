"""Case lifecycle: opening, access, pre-admission, teams, arrival, handover, ETA."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consult.accounts.models import Notification
from consult.emergency import selectors, services
from consult.emergency.models import (
    EmergencyCase,
    Encounter,
    TeamAcknowledgement,
    TeamActivation,
)
from consult.exceptions import ConsultError, NotFound, PermissionDenied
from consult.records import phi as phi_codec
from consult.records.access import reachable_patients
from consult.records.models import AuditEvent
from tests.consult.emergency.conftest import CTX

pytestmark = pytest.mark.django_db


def test_opening_creates_an_unknown_placeholder_patient(world) -> None:  # type: ignore[no-untyped-def]
    """The patient is "UNKNOWN, STEMI" until identified."""
    case = world.open_case(category="stemi")
    assert phi_codec.unseal(case.patient).display_name == "UNKNOWN, STEMI"


def test_case_text_is_encrypted_at_rest(world) -> None:  # type: ignore[no-untyped-def]
    """The chief complaint never appears in the stored row."""
    case = world.open_case()
    raw = EmergencyCase.objects.filter(pk=case.pk).values_list(
        "text_ciphertext", flat=True
    )[0]
    assert "Canarycomplaint" not in raw and raw.startswith("v1:")


def test_crew_and_emergency_department_reach_the_patient(world) -> None:  # type: ignore[no-untyped-def]
    """Both paramedics of the crew and the ED operator have a care relationship."""
    case = world.open_case()
    reach = [
        reachable_patients(u).filter(pk=case.patient_id).exists()
        for u in (world.paramedic, world.partner, world.operator, world.cardiologist)
    ]
    assert reach == [True, True, True, False]


def test_operator_of_another_hospital_cannot_see_the_case(world) -> None:  # type: ignore[no-untyped-def]
    """Another hospital's operator gets NotFound."""
    case = world.open_case()
    with pytest.raises(NotFound):
        selectors.case_detail(
            actor=world.other_hospital_operator, case_id=case.pk, ctx=CTX
        )


def test_crew_of_another_service_cannot_see_the_case(world) -> None:  # type: ignore[no-untyped-def]
    """Another crew's paramedic gets NotFound."""
    case = world.open_case()
    with pytest.raises(NotFound):
        selectors.case_detail(actor=world.other_crew_medic, case_id=case.pk, ctx=CTX)


def test_trainee_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    """A trainee of the destination hospital gets PermissionDenied."""
    case = world.open_case()
    with pytest.raises(PermissionDenied):
        selectors.case_detail(actor=world.trainee, case_id=case.pk, ctx=CTX)


def test_reading_a_case_is_audited_against_its_patient(world) -> None:  # type: ignore[no-untyped-def]
    """The operator's read is one allowed read event naming the patient."""
    case = world.open_case()
    selectors.case_detail(actor=world.operator, case_id=case.pk, ctx=CTX)
    event = AuditEvent.objects.filter(actor_id=world.operator.pk).last()
    assert (event.action, event.patient_id, event.object_type) == (
        "read",
        case.patient_id,
        "emergency_case",
    )


def test_accept_pre_admits_to_a_department_and_bay(world) -> None:  # type: ignore[no-untyped-def]
    """Acceptance makes a planned encounter and links the department."""
    case = world.open_case()
    services.case_accept(
        actor=world.operator,
        case_id=case.pk,
        department_id=world.cardiology.pk,
        bay="Cath 2",
        ctx=CTX,
    )
    encounter = Encounter.objects.get(case=case)
    case.refresh_from_db()
    assert (
        case.status,
        encounter.status,
        encounter.bay,
        reachable_patients(world.cardiologist).filter(pk=case.patient_id).exists(),
    ) == ("accepted", "planned", "Cath 2", True)


def test_accept_into_another_hospitals_department_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    """A department of another hospital is unknown_department."""
    case = world.open_case()
    with pytest.raises(NotFound) as error:
        services.case_accept(
            actor=world.operator,
            case_id=case.pk,
            department_id=world.other_hospital_operator.department_id,
            bay="",
            ctx=CTX,
        )
    assert error.value.code == "unknown_department"


def test_accepting_twice_is_an_invalid_transition(world) -> None:  # type: ignore[no-untyped-def]
    """The second acceptance gets invalid_transition (409)."""
    case = world.open_case()
    accept = dict(
        actor=world.operator,
        case_id=case.pk,
        department_id=world.emergency.pk,
        bay="R1",
        ctx=CTX,
    )
    services.case_accept(**accept)
    with pytest.raises(ConsultError) as error:
        services.case_accept(**accept)
    assert (error.value.code, error.value.status_code) == ("invalid_transition", 409)


def test_stemi_activates_the_cath_lab_team_and_notifies_members(world) -> None:  # type: ignore[no-untyped-def]
    """Each cath lab member gets a notification and an open acknowledgement."""
    case = world.open_case(category="stemi")
    services.team_activate(actor=world.operator, case_id=case.pk, ctx=CTX)
    members = {world.cardiologist.pk, world.nurse.pk}
    notified = set(
        Notification.objects.filter(kind="team_activation").values_list(
            "user_id", flat=True
        )
    )
    pending = set(
        TeamAcknowledgement.objects.filter(acknowledged_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    assert (notified, pending) == (members, members)


def test_activation_gives_members_access_to_the_patient(world) -> None:  # type: ignore[no-untyped-def]
    """A team member can open the case once activated."""
    case = world.open_case(category="stemi")
    services.team_activate(actor=world.operator, case_id=case.pk, ctx=CTX)
    detail = selectors.case_detail(actor=world.cardiologist, case_id=case.pk, ctx=CTX)
    assert detail.access_reason == "emergency_case"


def test_activating_twice_creates_one_activation(world) -> None:  # type: ignore[no-untyped-def]
    """A repeated activation is harmless."""
    case = world.open_case(category="stemi")
    services.team_activate(actor=world.operator, case_id=case.pk, ctx=CTX)
    services.team_activate(actor=world.operator, case_id=case.pk, ctx=CTX)
    assert TeamActivation.objects.filter(case=case).count() == 1


def test_category_without_a_team_says_no_team(world) -> None:  # type: ignore[no-untyped-def]
    """A stroke case at a hospital with only a cath lab team gets no_team."""
    case = world.open_case(category="stroke")
    with pytest.raises(ConsultError) as error:
        services.team_activate(actor=world.operator, case_id=case.pk, ctx=CTX)
    assert error.value.code == "no_team"


def test_accept_with_teams_for_a_category_without_a_team_still_pre_admits(
    world,
) -> None:  # type: ignore[no-untyped-def]
    """Stroke with only a cath lab team: accepted and pre-admitted, no_team reported."""
    case = world.open_case(category="stroke")
    result = services.case_accept(
        actor=world.operator,
        case_id=case.pk,
        department_id=world.emergency.pk,
        bay="Resus 2",
        activate_teams=True,
        ctx=CTX,
    )
    case.refresh_from_db()
    assert (
        result.team_activation,
        result.activations,
        case.status,
        Encounter.objects.get(case=case).bay,
        TeamActivation.objects.filter(case=case).count(),
    ) == ("no_team", [], "accepted", "Resus 2", 0)


def test_accept_with_teams_reports_the_activation(world) -> None:  # type: ignore[no-untyped-def]
    """STEMI with the cath lab team: activated, one activation returned."""
    case = world.open_case(category="stemi")
    result = services.case_accept(
        actor=world.operator,
        case_id=case.pk,
        department_id=world.cardiology.pk,
        bay="Cath 1",
        activate_teams=True,
        ctx=CTX,
    )
    assert (
        result.team_activation,
        [a.team.code for a in result.activations],
    ) == ("activated", ["cath_lab"])


def test_member_acknowledges_once(world) -> None:  # type: ignore[no-untyped-def]
    """Acknowledging stamps the time; repeating keeps the first time."""
    case = world.open_case(category="stemi")
    (activation,) = services.team_activate(
        actor=world.operator, case_id=case.pk, ctx=CTX
    )
    first = services.team_acknowledge(
        actor=world.cardiologist, activation_id=activation.pk, ctx=CTX
    )
    again = services.team_acknowledge(
        actor=world.cardiologist, activation_id=activation.pk, ctx=CTX
    )
    assert first.acknowledged_at == again.acknowledged_at is not None


def test_non_member_cannot_acknowledge(world) -> None:  # type: ignore[no-untyped-def]
    """The operator is not in the team: NotFound."""
    case = world.open_case(category="stemi")
    (activation,) = services.team_activate(
        actor=world.operator, case_id=case.pk, ctx=CTX
    )
    with pytest.raises(NotFound):
        services.team_acknowledge(
            actor=world.operator, activation_id=activation.pk, ctx=CTX
        )


def test_arrival_and_handover_move_the_encounter(world) -> None:  # type: ignore[no-untyped-def]
    """Arrived then handed over: the encounter goes planned → arrived → in-progress."""
    case = world.open_case()
    services.case_accept(
        actor=world.operator,
        case_id=case.pk,
        department_id=world.emergency.pk,
        bay="R1",
        ctx=CTX,
    )
    services.case_arrive(actor=world.paramedic, case_id=case.pk, ctx=CTX)
    arrived = Encounter.objects.get(case=case).status
    services.case_handover(actor=world.operator, case_id=case.pk, ctx=CTX)
    case.refresh_from_db()
    assert (arrived, Encounter.objects.get(case=case).status, case.status) == (
        "arrived",
        "in-progress",
        "handed_over",
    )


def test_timeline_measures_call_to_door_and_door_to_team(world) -> None:  # type: ignore[no-untyped-def]
    """Call 30 min before arrival; team acknowledged before the door: negative."""
    case = world.open_case(call_received_at=timezone.now() - timedelta(minutes=30))
    (activation,) = services.team_activate(
        actor=world.operator, case_id=case.pk, ctx=CTX
    )
    services.team_acknowledge(
        actor=world.cardiologist, activation_id=activation.pk, ctx=CTX
    )
    services.case_arrive(actor=world.operator, case_id=case.pk, ctx=CTX)
    result = selectors.case_timeline(actor=world.operator, case_id=case.pk, ctx=CTX)
    kinds = [e["kind"] for e in result["events"]]
    intervals = result["intervals"]
    assert (
        kinds,
        1795 < intervals["call_to_door_s"] < 1810,
        intervals["door_to_team_s"] < 0,
    ) == (["opened", "team_activated", "team_acknowledged", "arrived"], True, True)


def test_location_gives_an_eta_to_the_destination(world) -> None:  # type: ignore[no-untyped-def]
    """About 5.6 km away at 15 m/s: an ETA of about 8 minutes (road factor 1.3)."""
    case = world.open_case()
    result = services.location_record(
        actor=world.paramedic,
        case_id=case.pk,
        lat=51.5574,
        lon=-0.1278,
        at=timezone.now(),
        speed_mps=15.0,
    )
    assert 470 < result["eta_s"] < 500


def test_board_orders_by_eta_then_news2(world) -> None:  # type: ignore[no-untyped-def]
    """The nearer case comes first; a case without an ETA comes last."""
    far, near, unknown = (world.open_case() for _ in range(3))
    for case, lat in ((far, 51.70), (near, 51.52)):
        services.location_record(
            actor=world.paramedic,
            case_id=case.pk,
            lat=lat,
            lon=-0.1278,
            at=timezone.now(),
        )
    board = selectors.case_list(actor=world.operator, ctx=CTX)
    assert [c["id"] for c in board] == [str(near.pk), str(far.pk), str(unknown.pk)]


def test_board_summary_carries_no_free_text(world) -> None:  # type: ignore[no-untyped-def]
    """The summary sent to boards has no complaint or treatment text."""
    case = world.open_case()
    summary = selectors.summary_of(case.pk)
    assert "Canarycomplaint" not in str(summary) and "Aspirin" not in str(summary)


def test_diverted_case_cannot_be_accepted(world) -> None:  # type: ignore[no-untyped-def]
    """After a diversion, acceptance is an invalid transition."""
    case = world.open_case()
    services.case_divert(
        actor=world.operator, case_id=case.pk, reason="no_capacity", ctx=CTX
    )
    with pytest.raises(ConsultError) as error:
        services.case_accept(
            actor=world.operator,
            case_id=case.pk,
            department_id=world.emergency.pk,
            bay="",
            ctx=CTX,
        )
    assert error.value.code == "invalid_transition"
