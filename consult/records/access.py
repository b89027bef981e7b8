"""Who may reach which patient, and the audited gate every access passes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from consult.accounts.models import CLINICAL_ROLES, Role
from consult.exceptions import AccessBlocked, ConsultError, NotFound, PermissionDenied
from consult.records import monitor
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AuditEvent, CareRelationship, Patient

Action = AuditEvent.Action

# Which roles may attempt each action at all; the care relationship decides
# which patients.
ROLES_FOR_ACTION: dict[str, frozenset[str]] = {
    Action.READ: CLINICAL_ROLES,
    Action.LIST: CLINICAL_ROLES,
    Action.EXPORT: CLINICAL_ROLES,
    Action.SUBSCRIBE: CLINICAL_ROLES,
    Action.CREATE: CLINICAL_ROLES,
    Action.UPDATE: CLINICAL_ROLES,
    Action.DELETE: frozenset({Role.NURSE}),
    Action.BREAK_GLASS: frozenset(
        {Role.SPECIALIST, Role.SURGEON, Role.NURSE, Role.OPERATOR}
    ),
}


def active_relationships(user: Any) -> QuerySet[CareRelationship]:
    """The care relationships that currently link ``user`` (or their department)."""
    now = timezone.now()
    reach = Q(user_id=user.pk)
    if user.department_id:
        reach |= Q(department_id=user.department_id)
    return CareRelationship.objects.filter(reach, starts_at__lte=now).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )


def reachable_patients(user: Any) -> QuerySet[Patient]:
    """Patients ``user`` may see: not deleted, with an active care relationship."""
    if not user.is_authenticated or user.role not in CLINICAL_ROLES:
        return Patient.objects.none()
    links = active_relationships(user).filter(patient_id=OuterRef("pk"))
    return Patient.objects.filter(Exists(links), deleted_at__isnull=True)


def parse_patient_id(raw: object) -> uuid.UUID:
    """A client-supplied patient id, or ``NotFound`` (never a 500)."""
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise NotFound() from exc


@dataclass
class Grant:
    """A permitted access to one patient, and what the audit event will say.

    The event names ``object_type``/``object_id`` (the patient by default);
    a caller acting on something of the patient's, such as an appointment,
    sets them inside the ``with`` block.
    """

    patient: Patient
    explained: bool
    explanation: str
    extra: dict[str, Any] = field(default_factory=dict)
    object_type: str = "patient"
    object_id: str = ""


class _Denied(Exception):
    """Internal: the gate refused; the public error is re-raised after auditing."""

    def __init__(
        self, error: ConsultError, rule: tuple[str, str] | None = None
    ) -> None:
        super().__init__(error.code)
        self.error = error
        self.rule = rule


def _check_role(actor: Any, action: str) -> None:
    if not actor.is_authenticated or actor.role not in ROLES_FOR_ACTION[action]:
        raise _Denied(PermissionDenied())
    if monitor.is_blocked(actor):
        raise _Denied(AccessBlocked())


def _grant_for(actor: Any, patient_id: uuid.UUID) -> Grant:
    patient = reachable_patients(actor).filter(pk=patient_id).first()
    if patient is None:
        raise _Denied(NotFound())
    kinds = set(
        active_relationships(actor)
        .filter(patient=patient)
        .values_list("kind", flat=True)
    )
    explained_kinds = sorted(kinds - {CareRelationship.Kind.BREAK_GLASS})
    if explained_kinds:
        return Grant(patient, True, explained_kinds[0])
    return Grant(patient, False, CareRelationship.Kind.BREAK_GLASS)


def _record_denial(
    actor: Any,
    action: str,
    patient_id: uuid.UUID | None,
    denied: _Denied,
    ctx: AccessContext,
) -> None:
    with transaction.atomic():
        audit_event_record(
            actor=actor,
            action=action,
            ctx=ctx,
            object_type="patient",
            object_id=str(patient_id or ""),
            patient_id=patient_id,
            outcome=AuditEvent.Outcome.DENIED,
            extra={"code": denied.error.code},
        )
        if not actor.is_authenticated:
            return
        rule = denied.rule or rule_or_none(actor, denied)
        if rule is not None:
            monitor.access_alert_raise(
                user=actor, rule=rule[0], detail=rule[1], ctx=ctx
            )


def rule_or_none(actor: Any, denied: _Denied) -> tuple[str, str] | None:
    """Denials because of an existing block do not pile up new alerts."""
    if isinstance(denied.error, AccessBlocked):
        return None
    return monitor.rule_fired_by_denials(actor)


@contextmanager
def patient_access(
    *, actor: Any, patient_id: object, action: str, ctx: AccessContext
) -> Iterator[Grant]:
    """Gate one access to one patient, and audit it in the same transaction.

    Inside the ``with`` block the caller reads or writes ``grant.patient``. On
    leaving it, the monitor checks its rules under the chain lock and the
    event is appended; if a rule fires, the caller's work rolls back, the
    user is blocked and ``AccessBlocked`` is raised. Refusals are audited in a
    transaction of their own, so they are never rolled back with the request.
    Raises ``NotFound`` (outside the user's reach), ``PermissionDenied`` or
    ``AccessBlocked``.
    """
    try:
        pid: uuid.UUID | None = parse_patient_id(patient_id)
    except NotFound:
        pid = None  # refused below, after the role check, as before
    try:
        with transaction.atomic():
            _check_role(actor, action)
            if pid is None:
                raise _Denied(NotFound())
            grant = _grant_for(actor, pid)
            yield grant
            _append_touch(actor, action, grant, ctx)
    except _Denied as denied:
        _record_denial(actor, action, pid, denied, ctx)
        raise denied.error from None


def _append_touch(actor: Any, action: str, grant: Grant, ctx: AccessContext) -> None:
    # The event is written first: it takes the chain lock, which serialises
    # the monitor's count with every other writer; on a breach it rolls back.
    audit_event_record(
        actor=actor,
        action=action,
        ctx=ctx,
        object_type=grant.object_type,
        object_id=grant.object_id or str(grant.patient.pk),
        patient_id=grant.patient.pk,
        explained=grant.explained,
        explanation=grant.explanation,
        extra=grant.extra,
    )
    rule = monitor.rule_fired_by_touch(actor, explained=grant.explained)
    if rule is not None:
        raise _Denied(AccessBlocked(), rule)


@contextmanager
def role_gate(
    *, actor: Any, action: str, ctx: AccessContext, patient_id: object = None
) -> Iterator[None]:
    """Gate an action not about one reachable patient (list, create, break-glass).

    Refusals from the role check, and ``NotFound``/``PermissionDenied`` raised
    by the body, are audited as denied attempts, naming ``patient_id`` when
    the action targets one patient.
    """
    try:
        target: uuid.UUID | None = (
            None if patient_id is None else parse_patient_id(patient_id)
        )
    except NotFound:
        target = None
    try:
        _check_role(actor, action)
    except _Denied as denied:
        _record_denial(actor, action, target, denied, ctx)
        raise denied.error from None
    try:
        yield
    except _Denied as denied:
        _record_denial(actor, action, target, denied, ctx)
        raise denied.error from None
    except (NotFound, PermissionDenied) as error:
        _record_denial(actor, action, target, _Denied(error), ctx)
        raise


def block_for(rule: tuple[str, str]) -> NoReturn:
    """Refuse the access in progress and block the user for ``rule`` (inside a gate)."""
    raise _Denied(AccessBlocked(), rule)
