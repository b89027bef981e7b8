"""What every emergency write shares.

The timeline event, the locked case row, the ``updated_at`` touch, the
patient's care links, the case fan-out after commit, and the error for a step
the case's status does not allow.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from consult.accounts.models import Department
from consult.emergency import events
from consult.emergency.models import CaseEvent, EmergencyCase
from consult.emergency.selectors import summary_of
from consult.exceptions import ConsultError
from consult.records.models import AuditEvent, CareRelationship, Patient

Action = AuditEvent.Action
Status = EmergencyCase.Status


class InvalidTransition(ConsultError):
    """The case is not in a state that allows this step."""

    status_code = 409

    def __init__(self, case: EmergencyCase, step: str) -> None:
        super().__init__(
            f"A case that is {case.status} cannot be {step}.",
            code="invalid_transition",
            extra={"status": case.status},
        )


def _event(
    case: EmergencyCase, kind: str, actor: Any, detail: dict[str, Any] | None = None
) -> CaseEvent:
    event = CaseEvent(case=case, kind=kind, actor=actor, detail=detail or {})
    event.full_clean()
    event.save()
    return event


def _touch(case: EmergencyCase, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(case, name, value)
    case.updated_at = timezone.now()
    case.save(update_fields=[*fields, "updated_at"])


def _publish(case: EmergencyCase) -> None:
    events.case_changed_on_commit(summary_of(case.pk))


def _locked(case: EmergencyCase) -> EmergencyCase:
    return EmergencyCase.objects.select_for_update().get(pk=case.pk)


def _link_user(patient: Patient, user: Any, by: Any, source: str) -> None:
    CareRelationship.objects.get_or_create(
        patient=patient,
        user=user,
        kind=CareRelationship.Kind.EMERGENCY_CASE,
        defaults={"source": source, "created_by": by},
    )


def _link_department(
    patient: Patient, department: Department, by: Any, source: str
) -> None:
    CareRelationship.objects.get_or_create(
        patient=patient,
        department=department,
        kind=CareRelationship.Kind.EMERGENCY_CASE,
        defaults={"source": source, "created_by": by},
    )
