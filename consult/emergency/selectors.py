"""Reads of emergency cases, always scoped by the acting user's crew or hospital.

A paramedic reaches the cases of their own crew; hospital staff (operators,
nurses, doctors) reach the cases inbound to their own hospital. Anything
with clinical content passes the records gate and is audited; the board's
summary (category, estimated age and sex, NEWS2, ETA, status) is audited as
one ``list`` event per page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from consult.accounts.models import DeviceToken, Organisation, Role, hash_token
from consult.emergency import casetext
from consult.emergency.casetext import CaseText
from consult.emergency.models import (
    ACTIVE_STATUSES,
    CaseEvent,
    EmergencyCase,
    News2Score,
    StreamKind,
    TeamAcknowledgement,
    TeamActivation,
    VitalsBatch,
    VitalsStream,
)
from consult.exceptions import NotFound, PermissionDenied
from consult.records.access import patient_access, role_gate
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AuditEvent

Action = AuditEvent.Action
HOSPITAL_ROLES = frozenset({Role.OPERATOR, Role.NURSE, Role.SPECIALIST, Role.SURGEON})
MAX_BACKFILL = 500


def is_crew(actor: Any) -> bool:
    """A paramedic on a crew."""
    return bool(
        actor.is_authenticated and actor.role == Role.PARAMEDIC and actor.crew_id
    )


def is_hospital_staff(actor: Any) -> bool:
    """Someone who works the receiving end in a hospital."""
    return bool(
        actor.is_authenticated
        and actor.role in HOSPITAL_ROLES
        and actor.organisation_id
        and actor.organisation.kind == Organisation.Kind.HOSPITAL
    )


def require_crew(actor: Any) -> None:
    """Paramedics on a crew only."""
    if not is_crew(actor):
        raise PermissionDenied()


def require_hospital_staff(actor: Any) -> None:
    """Hospital operators and clinicians only."""
    if not is_hospital_staff(actor):
        raise PermissionDenied()


def device_user(raw_token: str) -> Any | None:
    """The active user of a usable device token, or None."""
    token = (
        DeviceToken.objects.select_related("user__organisation")
        .filter(key_hash=hash_token(raw_token))
        .first()
    )
    if token is None or not token.is_usable() or not token.user.is_active:
        return None
    return token.user


def parse_case_id(raw: object) -> uuid.UUID:
    """A client-supplied case id, or ``NotFound``."""
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise NotFound() from exc


def _with_related(queryset: QuerySet[EmergencyCase]) -> QuerySet[EmergencyCase]:
    return queryset.select_related(
        "crew", "service", "destination", "encounter__department"
    ).prefetch_related(
        Prefetch("streams", queryset=VitalsStream.objects.order_by("created_at")),
        Prefetch(
            "activations",
            queryset=TeamActivation.objects.select_related("team").prefetch_related(
                Prefetch(
                    "acknowledgements",
                    queryset=TeamAcknowledgement.objects.select_related("user"),
                )
            ),
        ),
    )


def cases_for(actor: Any) -> QuerySet[EmergencyCase]:
    """Every case the actor's crew carries or their hospital receives."""
    if is_crew(actor):
        return EmergencyCase.objects.filter(
            crew_id=actor.crew_id, service_id=actor.organisation_id
        )
    if is_hospital_staff(actor):
        return EmergencyCase.objects.filter(destination_id=actor.organisation_id)
    raise PermissionDenied()


def case_get(actor: Any, case_id: object) -> EmergencyCase:
    """One case in the actor's reach (``NotFound`` otherwise), summary-ready."""
    pk = parse_case_id(case_id)
    case = _with_related(cases_for(actor)).filter(pk=pk).first()
    if case is None:
        raise NotFound()
    return case


def crew_case_get(actor: Any, case_id: object) -> EmergencyCase:
    """One case of the actor's own crew."""
    require_crew(actor)
    return case_get(actor, case_id)


def hospital_case_get(actor: Any, case_id: object) -> EmergencyCase:
    """One case inbound to the actor's own hospital."""
    require_hospital_staff(actor)
    return case_get(actor, case_id)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def case_summary(case: EmergencyCase) -> dict[str, Any]:
    """What the board and the crew see of a case: JSON-safe, no free text."""
    encounter = getattr(case, "encounter", None)
    now = timezone.now()
    eta_s = (
        max(0.0, (case.eta_at - now).total_seconds())
        if case.eta_at and case.status in ACTIVE_STATUSES
        else None
    )
    return {
        "id": str(case.pk),
        "status": case.status,
        "category": case.category,
        "estimated_age": case.estimated_age,
        "sex": case.sex,
        "crew": {"id": case.crew_id, "call_sign": case.crew.call_sign},
        "service": {"id": case.service_id, "name": case.service.name},
        "destination": {"id": case.destination_id, "name": case.destination.name},
        "consent_to_broadcast": case.consent_to_broadcast,
        # Entering the room is checked against the case; the id alone opens nothing.
        "video_room": str(case.room_id) if case.room_id else None,
        "news2": {
            "total": case.news2_total,
            "band": case.news2_band,
            "trend": case.news2_trend,
        },
        "vitals": {name: entry["v"] for name, entry in case.latest_vitals.items()},
        "vitals_at": max(
            (entry["at"] for entry in case.latest_vitals.values()), default=None
        ),
        "eta_at": _iso(case.eta_at),
        "eta_s": eta_s,
        "distance_m": case.distance_m,
        "position": (
            {"lat": case.last_lat, "lon": case.last_lon}
            if case.last_lat is not None
            else None
        ),
        "streams": [
            {
                "device": s.device_id,
                "stream": str(s.stream_id),
                "kind": s.kind,
                "acked_through": s.acked_through,
            }
            for s in case.streams.all()
        ],
        "encounter": (
            {
                "id": encounter.pk,
                "status": encounter.status,
                "department": {
                    "id": encounter.department_id,
                    "name": encounter.department.name,
                },
                "bay": encounter.bay,
            }
            if encounter
            else None
        ),
        "activations": [
            {
                "id": a.pk,
                "team": {"id": a.team_id, "code": a.team.code, "name": a.team.name},
                "activated_at": a.activated_at.isoformat(),
                "members": [
                    {
                        "user": ack.user_id,
                        "name": ack.user.get_full_name() or ack.user.username,
                        "acknowledged_at": _iso(ack.acknowledged_at),
                    }
                    for ack in a.acknowledgements.all()
                ],
            }
            for a in case.activations.all()
        ],
        "opened_at": case.opened_at.isoformat(),
        "accepted_at": _iso(case.accepted_at),
        "arrived_at": _iso(case.arrived_at),
        "handed_over_at": _iso(case.handed_over_at),
        "updated_at": case.updated_at.isoformat(),
    }


def summary_of(case_id: object) -> dict[str, Any]:
    """A fresh summary of one case by id (for fan-out inside a service)."""
    return case_summary(_with_related(EmergencyCase.objects).get(pk=case_id))


def _board_key(summary: dict[str, Any]) -> tuple[Any, ...]:
    # Soonest first; among equal ETAs (or none) the sickest first.
    eta = summary["eta_s"] if summary["eta_s"] is not None else float("inf")
    news = summary["news2"]["total"]
    return (eta, -(news if news is not None else -1), summary["opened_at"])


def case_list(
    *, actor: Any, ctx: AccessContext, active_only: bool = True
) -> list[dict[str, Any]]:
    """The crew's cases, or the hospital's inbound board ordered by ETA then NEWS2.

    One ``list`` audit event names the patients shown.
    """
    with role_gate(actor=actor, action=Action.LIST, ctx=ctx):
        queryset = _with_related(cases_for(actor))
        if active_only:
            queryset = queryset.filter(status__in=ACTIVE_STATUSES)
        cases = list(queryset[:200])
        summaries = sorted((case_summary(c) for c in cases), key=_board_key)
        if cases:
            audit_event_record(
                actor=actor,
                action=Action.LIST,
                ctx=ctx,
                object_type="emergency_case",
                extra={"ids": sorted(str(c.patient_id) for c in cases)},
            )
        return summaries


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """A case with its decrypted text, for the crew and the receiving team."""

    summary: dict[str, Any]
    text: CaseText
    patient_id: str
    news2_history: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    access_reason: str


def case_detail(*, actor: Any, case_id: object, ctx: AccessContext) -> CaseDetail:
    """One case in full; audited as a read of its patient through the records gate."""
    case = case_get(actor, case_id)
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.READ, ctx=ctx
    ) as grant:
        grant.object_type, grant.object_id = "emergency_case", str(case.pk)
        return CaseDetail(
            summary=case_summary(case),
            text=casetext.unseal(case),
            patient_id=str(case.patient_id),
            news2_history=news2_history(case),
            attachments=[
                {
                    "id": str(a.pk),
                    "kind": a.kind,
                    "content_type": a.content_type,
                    "size": a.size,
                    "uploaded_at": a.uploaded_at.isoformat(),
                }
                for a in case.attachments.all()
            ],
            access_reason=grant.explanation,
        )


def news2_history(case: EmergencyCase) -> list[dict[str, Any]]:
    """The case's NEWS2 scores in time order."""
    return [
        {"at": s.at.isoformat(), "total": s.total, "band": s.band, "scores": s.scores}
        for s in News2Score.objects.filter(case=case).order_by("at")
    ]


def batch_json(batch: VitalsBatch) -> dict[str, Any]:
    """A stored batch as the backfill API and live messages carry it."""
    return {
        "device": batch.device_id,
        "stream": str(batch.stream_id),
        "seq": batch.seq,
        "kind": batch.kind,
        "sample_t0": batch.sample_t0.isoformat(),
        "rate_hz": batch.rate_hz,
        "n_samples": batch.n_samples,
        "payload": batch.payload,
        "flags": batch.flags,
    }


def vitals_after(
    *,
    actor: Any,
    case_id: object,
    stream_id: object,
    after_seq: int,
    limit: int,
    ctx: AccessContext,
) -> dict[str, Any]:
    """Backfill: the stream's batches with seq > ``after_seq``, in seq order.

    Numerics (the board's summary tier) are audited as a list; waveforms pass
    the records gate as a read of the patient.
    """
    case = case_get(actor, case_id)
    try:
        sid = uuid.UUID(str(stream_id))
    except ValueError as exc:
        raise NotFound() from exc
    stream = VitalsStream.objects.filter(case=case, stream_id=sid).first()
    if stream is None:
        raise NotFound()
    if stream.kind == StreamKind.NUMERICS:
        # The summary tier: what every board of the hospital already shows
        # live, so a backfill is a list of it, not a read of the record.
        with role_gate(actor=actor, action=Action.LIST, ctx=ctx):
            audit_event_record(
                actor=actor,
                action=Action.LIST,
                ctx=ctx,
                object_type="vitals_stream",
                object_id=str(sid),
                extra={"ids": [str(case.patient_id)], "after_seq": after_seq},
            )
            return _backfill(stream, after_seq, limit)
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.READ, ctx=ctx
    ) as grant:
        grant.object_type, grant.object_id = "vitals_stream", str(sid)
        grant.extra["after_seq"] = after_seq
        return _backfill(stream, after_seq, limit)


def _backfill(stream: VitalsStream, after_seq: int, limit: int) -> dict[str, Any]:
    rows = list(
        VitalsBatch.objects.filter(vitals_stream=stream, seq__gt=after_seq).order_by(
            "seq"
        )[: min(limit, MAX_BACKFILL)]
    )
    return {
        "device": stream.device_id,
        "stream": str(stream.stream_id),
        "kind": stream.kind,
        "acked_through": stream.acked_through,
        "max_seq": stream.max_seq,
        "batches": [batch_json(b) for b in rows],
        "more": bool(rows) and rows[-1].seq < stream.max_seq,
    }


def timeline(case: EmergencyCase) -> dict[str, Any]:
    """Every event of the case and the intervals that matter, in seconds."""
    events = [
        {
            "kind": e.kind,
            "label": e.get_kind_display(),
            "at": e.at.isoformat(),
            "actor": e.actor_id,
            "detail": e.detail,
        }
        for e in CaseEvent.objects.filter(case=case).order_by("at", "id")
    ]
    first_ack = (
        TeamAcknowledgement.objects.filter(
            activation__case=case, acknowledged_at__isnull=False
        )
        .order_by("acknowledged_at")
        .values_list("acknowledged_at", flat=True)
        .first()
    )
    first_activation = (
        TeamActivation.objects.filter(case=case)
        .order_by("activated_at")
        .values_list("activated_at", flat=True)
        .first()
    )

    def span(start: datetime | None, end: datetime | None) -> float | None:
        return (end - start).total_seconds() if start and end else None

    return {
        "events": events,
        "intervals": {
            "call_to_door_s": span(case.call_received_at, case.arrived_at),
            "open_to_first_vitals_s": span(case.opened_at, case.first_vitals_at),
            "open_to_accept_s": span(case.opened_at, case.accepted_at),
            "call_to_team_activation_s": span(case.call_received_at, first_activation),
            # Negative when the team was ready before the patient came through the door.
            "door_to_team_s": span(case.arrived_at, first_ack),
            "door_to_handover_s": span(case.arrived_at, case.handed_over_at),
        },
    }


def case_timeline(*, actor: Any, case_id: object, ctx: AccessContext) -> dict[str, Any]:
    """The timeline of a case in the actor's reach; audited as a read."""
    case = case_get(actor, case_id)
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.READ, ctx=ctx
    ) as grant:
        grant.object_type, grant.object_id = "emergency_timeline", str(case.pk)
        return timeline(case)
