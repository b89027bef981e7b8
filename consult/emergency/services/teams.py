"""Activate the receiving hospital's teams for a case; members acknowledge."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from consult.accounts.models import Notification
from consult.emergency import events
from consult.emergency.models import (
    CaseEvent,
    EmergencyCase,
    Team,
    TeamAcknowledgement,
    TeamActivation,
)
from consult.emergency.selectors import hospital_case_get
from consult.emergency.services._common import (
    Action,
    InvalidTransition,
    Status,
    _event,
    _link_user,
    _publish,
)
from consult.exceptions import ConsultError, NotFound
from consult.records.access import patient_access
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import CareRelationship


def _default_teams(case: EmergencyCase) -> list[Team]:
    return [
        team
        for team in Team.objects.filter(organisation_id=case.destination_id)
        if case.category in team.activates_for
    ]


def _activate(
    actor: Any, case: EmergencyCase, teams: list[Team], ctx: AccessContext
) -> list[TeamActivation]:
    if not teams:
        raise ConsultError(
            "No team is set up for this kind of case.",
            code="no_team",
            extra={"category": case.category},
        )
    activations = []
    for team in teams:
        activation, created = TeamActivation.objects.get_or_create(
            case=case, team=team, defaults={"activated_by": actor}
        )
        activations.append(activation)
        if not created:
            continue
        members = list(team.members.filter(is_active=True))
        source = f"emergency_team:{activation.pk}"
        for member in members:
            TeamAcknowledgement.objects.create(activation=activation, user=member)
            _link_user(case.patient, member, actor, source)
            Notification.objects.get_or_create(
                user=member,
                dedupe_key=f"emergency_team:{activation.pk}",
                defaults={
                    "kind": Notification.Kind.TEAM_ACTIVATION,
                    "title": f"{team.name} activated: {case.get_category_display()}",
                    "body": "Inbound ambulance. Acknowledge on the command board.",
                    "url": f"/emergency/board/?case={case.pk}",
                },
            )
        _event(
            case,
            CaseEvent.Kind.TEAM_ACTIVATED,
            actor,
            {"team": team.code, "activation": activation.pk, "members": len(members)},
        )
        audit_event_record(
            actor=actor,
            action=Action.UPDATE,
            ctx=ctx,
            object_type="team_activation",
            object_id=str(activation.pk),
            patient_id=case.patient_id,
            explained=True,
            explanation=CareRelationship.Kind.EMERGENCY_CASE,
            extra={"team": team.code, "members": [m.pk for m in members]},
        )
        events.team_alert_on_commit(
            [m.pk for m in members],
            {
                "activation": activation.pk,
                "case": str(case.pk),
                "team": {"id": team.pk, "code": team.code, "name": team.name},
                "category": case.category,
                "eta_at": case.eta_at.isoformat() if case.eta_at else None,
            },
        )
    return activations


def team_activate(
    *,
    actor: Any,
    case_id: object,
    ctx: AccessContext,
    team_id: int | None = None,
) -> list[TeamActivation]:
    """Activate one team, or every team set up for the case's category.

    Members are notified in-app and in real time, and gain a care
    relationship to the patient. Activating a team twice does nothing new.
    """
    with transaction.atomic():
        case = hospital_case_get(actor, case_id)
        if case.status not in (
            Status.OPENED,
            Status.EN_ROUTE,
            Status.ACCEPTED,
            Status.ARRIVED,
        ):
            raise InvalidTransition(case, "given a team")
        with patient_access(
            actor=actor, patient_id=case.patient_id, action=Action.UPDATE, ctx=ctx
        ) as grant:
            grant.object_type, grant.object_id = "emergency_case", str(case.pk)
            grant.extra["op"] = "activate"
            if team_id is None:
                teams = _default_teams(case)
            else:
                team = Team.objects.filter(
                    pk=team_id, organisation_id=case.destination_id
                ).first()
                if team is None:
                    raise NotFound("Unknown team.", code="unknown_team")
                teams = [team]
            activations = _activate(actor, case, teams, ctx)
        _publish(case)
        return activations


@transaction.atomic
def team_acknowledge(
    *, actor: Any, activation_id: object, ctx: AccessContext
) -> TeamAcknowledgement:
    """A team member acknowledges an activation (once; repeating is harmless)."""
    try:
        pk = int(str(activation_id))
    except ValueError as exc:
        raise NotFound() from exc
    ack = (
        TeamAcknowledgement.objects.select_for_update()
        .select_related("activation__case", "activation__team")
        .filter(activation_id=pk, user_id=getattr(actor, "pk", None))
        .first()
    )
    if ack is None:
        raise NotFound()
    if ack.acknowledged_at is None:
        case = ack.activation.case
        ack.acknowledged_at = timezone.now()
        ack.save(update_fields=["acknowledged_at"])
        _event(
            case,
            CaseEvent.Kind.TEAM_ACKNOWLEDGED,
            actor,
            {"team": ack.activation.team.code, "activation": pk},
        )
        audit_event_record(
            actor=actor,
            action=Action.UPDATE,
            ctx=ctx,
            object_type="team_activation",
            object_id=str(pk),
            patient_id=case.patient_id,
            explained=True,
            explanation=CareRelationship.Kind.EMERGENCY_CASE,
            extra={"op": "acknowledge"},
        )
        _publish(case)
    return ack
