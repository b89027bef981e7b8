"""Accept and pre-admit a case into a department and bay (``check_``/``do_``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from consult.accounts.models import Department
from consult.emergency.models import (
    CaseEvent,
    EmergencyCase,
    Encounter,
    TeamActivation,
)
from consult.emergency.selectors import hospital_case_get
from consult.emergency.services._common import (
    Action,
    InvalidTransition,
    Status,
    _event,
    _link_department,
    _locked,
    _publish,
    _touch,
)
from consult.emergency.services.teams import _activate, _default_teams
from consult.exceptions import NotFound
from consult.records.access import patient_access
from consult.records.context import AccessContext


def check_case_accept(
    *, actor: Any, case_id: object, department_id: int
) -> tuple[EmergencyCase, Department]:
    """Refuse an acceptance that is not allowed, before changing anything."""
    case = hospital_case_get(actor, case_id)
    if case.status not in (Status.OPENED, Status.EN_ROUTE):
        raise InvalidTransition(case, "accepted")
    department = Department.objects.filter(
        pk=department_id, organisation_id=case.destination_id
    ).first()
    if department is None:
        raise NotFound("Unknown department.", code="unknown_department")
    return case, department


def do_case_accept(
    *,
    actor: Any,
    case: EmergencyCase,
    department: Department,
    bay: str,
    ctx: AccessContext,
) -> Encounter:
    """Accept and pre-admit: a planned encounter in a department and bay."""
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.UPDATE, ctx=ctx
    ) as grant:
        case = _locked(case)
        if case.status not in (Status.OPENED, Status.EN_ROUTE):
            raise InvalidTransition(case, "accepted")
        encounter = Encounter(
            case=case, patient_id=case.patient_id, department=department, bay=bay
        )
        encounter.full_clean()
        encounter.save()
        _touch(
            case, status=Status.ACCEPTED, accepted_at=timezone.now(), accepted_by=actor
        )
        _link_department(grant.patient, department, actor, f"emergency_case:{case.pk}")
        _event(
            case,
            CaseEvent.Kind.ACCEPTED,
            actor,
            {"department": department.pk, "bay": bay, "encounter": encounter.pk},
        )
        grant.object_type, grant.object_id = "emergency_case", str(case.pk)
        grant.extra["op"] = "accept"
        return encounter


@dataclass(frozen=True, slots=True)
class Acceptance:
    """What an acceptance did.

    ``team_activation``: ``activated``, ``not_requested``, or ``no_team`` when
    teams were asked for and none is set up for the case's category.
    """

    case: EmergencyCase
    activations: list[TeamActivation]
    team_activation: str


def case_accept(
    *,
    actor: Any,
    case_id: object,
    department_id: int,
    bay: str,
    ctx: AccessContext,
    activate_teams: bool = False,
) -> Acceptance:
    """Accept and pre-admit the patient; optionally activate the category's teams.

    A category without a team still accepts and pre-admits: the missing team
    is reported (``no_team``), it does not undo the admission.
    """
    with transaction.atomic():
        case, department = check_case_accept(
            actor=actor, case_id=case_id, department_id=department_id
        )
        do_case_accept(actor=actor, case=case, department=department, bay=bay, ctx=ctx)
        teams = _default_teams(case) if activate_teams else []
        activations = _activate(actor, case, teams, ctx) if teams else []
        _publish(case)
        if not activate_teams:
            outcome = "not_requested"
        else:
            outcome = "activated" if teams else "no_team"
        return Acceptance(case, activations, outcome)
