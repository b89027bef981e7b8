"""The case's status steps: depart, arrive, hand over, divert, close.

Acceptance (pre-admission) is in ``admission``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from consult.emergency import video
from consult.emergency.models import CaseEvent, EmergencyCase, Encounter
from consult.emergency.selectors import case_get, crew_case_get, hospital_case_get
from consult.emergency.services._common import (
    Action,
    InvalidTransition,
    Status,
    _event,
    _locked,
    _publish,
    _touch,
)
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import CareRelationship

DIVERT_REASONS = ("no_capacity", "specialty_unavailable", "closer_facility", "other")


@transaction.atomic
def case_depart(*, actor: Any, case_id: object, ctx: AccessContext) -> EmergencyCase:
    """The crew leaves the scene for the hospital."""
    case = _locked(crew_case_get(actor, case_id))
    if case.status not in (Status.OPENED, Status.ACCEPTED) or case.departed_at:
        raise InvalidTransition(case, "marked en route")
    fields: dict[str, Any] = {"departed_at": timezone.now()}
    if case.status == Status.OPENED:
        fields["status"] = Status.EN_ROUTE
    _touch(case, **fields)
    _event(case, CaseEvent.Kind.DEPARTED, actor)
    _audit_case(actor, case, ctx, "depart")
    _publish(case)
    return case


def _audit_case(actor: Any, case: EmergencyCase, ctx: AccessContext, op: str) -> None:
    audit_event_record(
        actor=actor,
        action=Action.UPDATE,
        ctx=ctx,
        object_type="emergency_case",
        object_id=str(case.pk),
        patient_id=case.patient_id,
        explained=True,
        explanation=CareRelationship.Kind.EMERGENCY_CASE,
        extra={"op": op},
    )


@transaction.atomic
def case_arrive(*, actor: Any, case_id: object, ctx: AccessContext) -> EmergencyCase:
    """The ambulance is at the door (the crew or the hospital says so)."""
    case = _locked(case_get(actor, case_id))
    if case.status not in (Status.OPENED, Status.EN_ROUTE, Status.ACCEPTED):
        raise InvalidTransition(case, "marked arrived")
    now = timezone.now()
    _touch(case, status=Status.ARRIVED, arrived_at=now, eta_at=now)
    Encounter.objects.filter(case=case).update(
        status=Encounter.Status.ARRIVED, arrived_at=now
    )
    _event(case, CaseEvent.Kind.ARRIVED, actor)
    _audit_case(actor, case, ctx, "arrive")
    _publish(case)
    return case


@transaction.atomic
def case_handover(*, actor: Any, case_id: object, ctx: AccessContext) -> EmergencyCase:
    """The receiving team has taken the patient over from the crew."""
    case = _locked(hospital_case_get(actor, case_id))
    if case.status != Status.ARRIVED:
        raise InvalidTransition(case, "handed over")
    now = timezone.now()
    _touch(case, status=Status.HANDED_OVER, handed_over_at=now)
    video.video_room_end(case)
    Encounter.objects.filter(case=case).update(
        status=Encounter.Status.IN_PROGRESS, started_at=now
    )
    _event(case, CaseEvent.Kind.HANDED_OVER, actor)
    _audit_case(actor, case, ctx, "handover")
    _publish(case)
    return case


@transaction.atomic
def case_divert(
    *, actor: Any, case_id: object, reason: str, ctx: AccessContext
) -> EmergencyCase:
    """The hospital cannot take the patient; the crew must go elsewhere."""
    case = _locked(hospital_case_get(actor, case_id))
    if case.status not in (Status.OPENED, Status.EN_ROUTE, Status.ACCEPTED):
        raise InvalidTransition(case, "diverted")
    _touch(case, status=Status.DIVERTED, diverted_at=timezone.now())
    # The patient goes elsewhere: this hospital stops watching.
    video.video_room_end(case)
    Encounter.objects.filter(case=case).update(status=Encounter.Status.CANCELLED)
    _event(case, CaseEvent.Kind.DIVERTED, actor, {"reason": reason})
    _audit_case(actor, case, ctx, "divert")
    _publish(case)
    return case


@transaction.atomic
def case_close(
    *, actor: Any, case_id: object, reason: str, ctx: AccessContext
) -> EmergencyCase:
    """The crew closes a case that will not reach the hospital (e.g. not conveyed)."""
    case = _locked(crew_case_get(actor, case_id))
    if case.status not in (Status.OPENED, Status.EN_ROUTE, Status.ACCEPTED):
        raise InvalidTransition(case, "closed")
    _touch(case, status=Status.CLOSED, closed_at=timezone.now())
    video.video_room_end(case)
    Encounter.objects.filter(case=case).update(status=Encounter.Status.CANCELLED)
    _event(case, CaseEvent.Kind.CLOSED, actor, {"reason": reason})
    _audit_case(actor, case, ctx, "close")
    _publish(case)
    return case
