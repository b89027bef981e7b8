"""The crew's and the board's sockets join a case: audited subscriptions."""

from __future__ import annotations

from typing import Any

from consult.emergency.selectors import (
    case_summary,
    crew_case_get,
    hospital_case_get,
    require_hospital_staff,
)
from consult.emergency.services._common import Action
from consult.records.access import patient_access
from consult.records.context import AccessContext


def crew_session_open(
    *, actor: Any, case_id: object, ctx: AccessContext
) -> dict[str, Any]:
    """The crew's socket joins a case: audited subscription; returns the summary."""
    case = crew_case_get(actor, case_id)
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.SUBSCRIBE, ctx=ctx
    ) as grant:
        grant.object_type, grant.object_id = "emergency_case", str(case.pk)
        return case_summary(case)


def case_subscribe(
    *, actor: Any, case_id: object, ctx: AccessContext
) -> dict[str, Any]:
    """A board opens one case to follow its waveforms: audited subscription."""
    case = hospital_case_get(actor, case_id)
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.SUBSCRIBE, ctx=ctx
    ) as grant:
        grant.object_type, grant.object_id = "emergency_case", str(case.pk)
        grant.extra["what"] = "waveforms"
        return case_summary(case)


def board_open(*, actor: Any) -> int:
    """The hospital whose board the actor may watch (raises if none)."""
    require_hospital_staff(actor)
    return int(actor.organisation_id)
