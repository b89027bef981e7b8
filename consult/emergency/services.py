"""Writes on emergency cases: open, pre-admit, activate teams, arrive, hand over.

Every write runs in one transaction, passes the records gate for the case's
patient (audited), records a timeline event, and queues fan-out for after
the commit. Vitals ingest lives in ``ingest.py``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from consult.accounts.models import Department, Notification, Organisation, Role, User
from consult.emergency import casetext, events, geo, video
from consult.emergency.casetext import CaseText
from consult.emergency.models import (
    Attachment,
    CaseEvent,
    Category,
    EmergencyCase,
    Encounter,
    LocationFix,
    ReceivingHospital,
    Team,
    TeamAcknowledgement,
    TeamActivation,
)
from consult.emergency.selectors import (
    case_get,
    case_summary,
    crew_case_get,
    hospital_case_get,
    require_crew,
    require_hospital_staff,
    summary_of,
)
from consult.exceptions import ConsultError, NotFound
from consult.records import phi as phi_codec
from consult.records.access import patient_access, role_gate
from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AuditEvent, CareRelationship, Patient
from consult.records.phi import PatientPHI

Action = AuditEvent.Action
Status = EmergencyCase.Status
# Departments that watch every inbound case from the moment it opens.
RECEIVING_SPECIALTIES = (
    Department.Specialty.EMERGENCY,
    Department.Specialty.COMMAND_CENTRE,
)
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"%PDF-": "application/pdf",
}
DIVERT_REASONS = ("no_capacity", "specialty_unavailable", "closer_facility", "other")


class InvalidTransition(ConsultError):
    """The case is not in a state that allows this step."""

    status_code = 409

    def __init__(self, case: EmergencyCase, step: str) -> None:
        super().__init__(
            f"A case that is {case.status} cannot be {step}.",
            code="invalid_transition",
            extra={"status": case.status},
        )


class AttachmentRefused(ConsultError):
    """The upload is too large or not an accepted type."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)


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


def _unidentified_patient_phi(
    case_id: uuid.UUID, category: str, age: int | None, sex: str
) -> PatientPHI:
    year = timezone.now().year - (age if age is not None else 0)
    return PatientPHI(
        family_name="Unknown",
        given_name=Category(category).label,
        # An estimated age is stored as 1 January of the estimated birth year.
        birth_date=date(year, 1, 1) if age is not None else date(1900, 1, 1),
        sex=sex,
        mrn=f"EMS-{case_id.hex[:16].upper()}",
        notes="Unidentified emergency patient: identity not yet confirmed.",
    )


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


def case_open(
    *,
    actor: Any,
    destination_id: int,
    category: str,
    estimated_age: int | None,
    sex: str,
    text: CaseText,
    ctx: AccessContext,
    consent_to_broadcast: bool = False,
    call_received_at: datetime | None = None,
) -> EmergencyCase:
    """A paramedic opens a case for an unnamed patient bound for a hospital.

    Creates the unidentified patient ("Unknown, <category>") and the case's
    video room, links the patient to the crew's paramedics and the hospital's
    emergency and command-centre departments, and tells the hospital's boards.
    """
    require_crew(actor)
    with role_gate(actor=actor, action=Action.CREATE, ctx=ctx), transaction.atomic():
        destination = Organisation.objects.filter(
            pk=destination_id, kind=Organisation.Kind.HOSPITAL
        ).first()
        if destination is None:
            raise NotFound("Unknown destination hospital.", code="unknown_destination")
        now = timezone.now()
        case_id = uuid.uuid4()
        patient = Patient(id=uuid.uuid4(), organisation=actor.organisation)
        phi_codec.seal(
            patient, _unidentified_patient_phi(case_id, category, estimated_age, sex)
        )
        patient.full_clean()
        patient.save(force_insert=True)
        case = EmergencyCase(
            id=case_id,
            service=actor.organisation,
            crew=actor.crew,
            destination=destination,
            patient=patient,
            opened_by=actor,
            category=category,
            estimated_age=estimated_age,
            sex=sex,
            consent_to_broadcast=consent_to_broadcast,
            call_received_at=min(call_received_at or now, now),
            opened_at=now,
        )
        casetext.seal(case, text)
        case.room = video.video_room_create(case=case, actor=actor)
        case.full_clean()
        case.save(force_insert=True)
        source = f"emergency_case:{case.pk}"
        crew_members = User.objects.filter(
            crew_id=actor.crew_id, role=Role.PARAMEDIC, is_active=True
        )
        for member in {actor, *crew_members}:
            _link_user(patient, member, actor, source)
        for department in Department.objects.filter(
            organisation=destination, specialty__in=RECEIVING_SPECIALTIES
        ):
            _link_department(patient, department, actor, source)
        _event(case, CaseEvent.Kind.OPENED, actor, {"category": category})
        audit_event_record(
            actor=actor,
            action=Action.CREATE,
            ctx=ctx,
            object_type="emergency_case",
            object_id=str(case.pk),
            patient_id=patient.pk,
            explained=True,
            explanation=CareRelationship.Kind.EMERGENCY_CASE,
        )
        _publish(case)
        return case


@transaction.atomic
def case_update(
    *, actor: Any, case_id: object, changes: Mapping[str, Any], ctx: AccessContext
) -> EmergencyCase:
    """The crew corrects the case: text fields, category, age, sex, consent."""
    case = crew_case_get(actor, case_id)
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.UPDATE, ctx=ctx
    ) as grant:
        case = _locked(case)
        text_changes = {k: v for k, v in changes.items() if k in casetext.TEXT_FIELDS}
        if text_changes:
            casetext.seal(case, replace(casetext.unseal(case), **text_changes))
        for name in ("category", "estimated_age", "sex", "consent_to_broadcast"):
            if name in changes:
                setattr(case, name, changes[name])
        case.updated_at = timezone.now()
        case.full_clean()
        case.save()
        grant.object_type, grant.object_id = "emergency_case", str(case.pk)
        grant.extra["fields"] = sorted(changes)
        _publish(case)
        return case


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


@transaction.atomic
def location_record(
    *,
    actor: Any,
    case_id: object,
    lat: float,
    lon: float,
    at: datetime,
    accuracy_m: float | None = None,
    speed_mps: float | None = None,
    heading: float | None = None,
) -> dict[str, Any]:
    """Store a position, recompute the ETA, tell the board and the crew.

    Positions are the vehicle's, not the patient's record; they are not
    audited one by one (the case's subscription is).
    """
    case = _locked(crew_case_get(actor, case_id))
    now = timezone.now()
    at = min(at, now + timedelta(seconds=5))
    site = ReceivingHospital.objects.filter(organisation_id=case.destination_id).first()
    distance = eta = None
    if site is not None:
        distance = geo.haversine_m(lat, lon, site.lat, site.lon)
        speeds = list(
            LocationFix.objects.filter(case=case)
            .order_by("-at")
            .values_list("speed_mps", flat=True)[:4]
        )
        eta = geo.eta_seconds(distance, [speed_mps, *speeds])
    fix = LocationFix(
        case=case,
        lat=lat,
        lon=lon,
        accuracy_m=accuracy_m,
        speed_mps=speed_mps,
        heading=heading,
        at=at,
        eta_s=eta,
    )
    fix.full_clean()
    fix.save()
    fields: dict[str, Any] = {"last_lat": lat, "last_lon": lon, "distance_m": distance}
    if case.status in (Status.OPENED, Status.EN_ROUTE, Status.ACCEPTED):
        fields["eta_at"] = now + timedelta(seconds=eta) if eta is not None else None
    _touch(case, **fields)
    message = {
        "case": str(case.pk),
        "lat": lat,
        "lon": lon,
        "at": at.isoformat(),
        "eta_at": case.eta_at.isoformat() if case.eta_at else None,
        "eta_s": eta,
        "distance_m": distance,
    }
    events.location_on_commit(case.destination_id, str(case.pk), message)
    return message


def _sniff(data: bytes) -> str | None:
    for magic, content_type in ATTACHMENT_TYPES.items():
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def attachment_add(
    *, actor: Any, case_id: object, data: bytes, kind: str, ctx: AccessContext
) -> Attachment:
    """Attach a photo or an ECG printout; stored encrypted, never public.

    The type comes from the bytes, not the client's claim. Raises
    ``AttachmentRefused`` (``too_large``, ``unsupported_type``).
    """
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentRefused("At most 10 MB.", code="too_large")
    content_type = _sniff(data)
    if content_type is None:
        raise AttachmentRefused("Only JPEG, PNG, WebP or PDF.", code="unsupported_type")
    case = crew_case_get(actor, case_id)
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.UPDATE, ctx=ctx
    ) as grant:
        attachment_id = uuid.uuid4()
        blob, key_id = casetext.seal_bytes(data, attachment_id=attachment_id)
        name = default_storage.save(
            f"emergency/{case.pk}/{attachment_id.hex}.bin", ContentFile(blob)
        )
        attachment = Attachment(
            id=attachment_id,
            case=case,
            kind=kind,
            content_type=content_type,
            size=len(data),
            storage_name=name,
            key_id=key_id,
            sha256=hashlib.sha256(data).hexdigest(),
            uploaded_by=actor,
        )
        attachment.full_clean()
        attachment.save(force_insert=True)
        _event(
            case, CaseEvent.Kind.ATTACHMENT, actor, {"attachment": str(attachment_id)}
        )
        grant.object_type, grant.object_id = "emergency_attachment", str(attachment_id)
        _publish(case)
        return attachment


def attachment_read(
    *, actor: Any, case_id: object, attachment_id: object, ctx: AccessContext
) -> tuple[bytes, str]:
    """The decrypted bytes and type of one attachment; audited as a read."""
    case = case_get(actor, case_id)
    try:
        pk = uuid.UUID(str(attachment_id))
    except ValueError as exc:
        raise NotFound() from exc
    attachment = Attachment.objects.filter(case=case, pk=pk).first()
    if attachment is None:
        raise NotFound()
    with patient_access(
        actor=actor, patient_id=case.patient_id, action=Action.READ, ctx=ctx
    ) as grant:
        grant.object_type, grant.object_id = "emergency_attachment", str(pk)
        with default_storage.open(attachment.storage_name, "rb") as handle:
            blob = handle.read()
        data = casetext.unseal_bytes(
            blob, attachment_id=attachment.pk, key_id=attachment.key_id
        )
        return data, attachment.content_type
