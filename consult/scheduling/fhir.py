"""FHIR R4 Schedule, Slot, Appointment, Bundle and OperationOutcome resources.

Everything emitted here is validated through ``fhir.resources.R4B`` before it
is dumped to JSON. Inbound resources (a booking, a ``$cancel`` Parameters)
are validated the same way and turned into plain data for the services.
Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot
from pydantic import ValidationError

from consult.exceptions import ConsultError
from consult.scheduling.models import Appointment, ConsultationType

CONSULTATION_TYPE_SYSTEM = "urn:telemed:consultation-type"
CANCEL_REASON_SYSTEM = "urn:telemed:cancel-reason"
ERROR_SYSTEM = "urn:telemed:error-code"
# FHIR core extension: the IANA zone an instant was booked in.
TZ_CODE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/tz-code"
# R5 Appointment.virtualService carried into R4 as a cross-version extension.
VIRTUAL_SERVICE_EXTENSION = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService"
)
BOOKABLE_STATUSES = frozenset({"proposed", "pending", "booked"})
# Codes that a request broke a rule of the diary rather than the format.
_BUSINESS_RULE_CODES = frozenset(
    {
        "outside_availability",
        "in_the_past",
        "wrong_duration",
        "not_active",
        "not_mdt",
        "invalid_transition",
    }
)
_ISSUE_TYPE_BY_STATUS = {
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-long",
    415: "not-supported",
    429: "throttled",
}


class InvalidResource(ConsultError):
    """A request body or search parameter that is not valid FHIR for this server."""

    def __init__(self, message: str, *, code: str = "invalid_resource") -> None:
        super().__init__(message, code=code)


def _dump(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    return model.model_validate(data).model_dump(mode="json", exclude_none=True)


def _parse(model: Any, data: Any) -> Any:
    """Validate an inbound resource; the error names fields, never echoes input."""
    if not isinstance(data, dict):
        raise InvalidResource("Expected a FHIR resource (a JSON object).")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'resource'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)[:5]
        )
        raise InvalidResource(f"Invalid {model.__name__}: {problems}") from None


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _kind_coding(kind: ConsultationType) -> dict[str, str]:
    return {"system": CONSULTATION_TYPE_SYSTEM, "code": kind.code, "display": kind.name}


def practitioner_reference(practitioner: Any) -> dict[str, str]:
    """A reference to a staff member; staff names are not patient data."""
    return {
        "reference": f"Practitioner/{practitioner.pk}",
        "display": practitioner.get_full_name(),
    }


def operation_outcome(
    *, code: str, message: str, status: int, severity: str = "error"
) -> dict[str, Any]:
    """An OperationOutcome with our stable code in ``issue[0].details.coding[0]``."""
    issue_type = (
        "business-rule"
        if code in _BUSINESS_RULE_CODES
        else _ISSUE_TYPE_BY_STATUS.get(
            status, "invalid" if status < 500 else "exception"
        )
    )
    return _dump(
        OperationOutcome,
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": severity,
                    "code": issue_type,
                    "details": {
                        "coding": [{"system": ERROR_SYSTEM, "code": code}],
                        "text": message,
                    },
                }
            ],
        },
    )


def searchset(
    entries: Iterable[tuple[str, dict[str, Any]]], *, self_url: str
) -> dict[str, Any]:
    """A searchset Bundle of already-validated ``(fullUrl, resource)`` pairs."""
    entry = [
        {"fullUrl": url, "resource": resource, "search": {"mode": "match"}}
        for url, resource in entries
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entry),
        "link": [{"relation": "self", "url": self_url}],
        **({"entry": entry} if entry else {}),
    }
    return _dump(Bundle, bundle)


def schedule_resource(
    practitioner: Any, kinds: Sequence[ConsultationType]
) -> dict[str, Any]:
    """The one Schedule of a bookable practitioner; its id is the practitioner's."""
    return _dump(
        Schedule,
        {
            "resourceType": "Schedule",
            "id": str(practitioner.pk),
            "active": practitioner.is_active,
            "actor": [practitioner_reference(practitioner)],
            **(
                {"serviceType": [{"coding": [_kind_coding(k)]} for k in kinds]}
                if kinds
                else {}
            ),
        },
    )


# A free interval can span an extra session of several days.
_MAX_SLOT_MINUTES = 60 * 24 * 120


def slot_id(practitioner_id: int, start: datetime, end: datetime) -> str:
    """Deterministic: ``<practitioner>-<minutes since epoch>-<duration minutes>``."""
    minutes = int(start.astimezone(UTC).timestamp() // 60)
    duration = int((end - start).total_seconds() // 60)
    return f"{practitioner_id}-{minutes}-{duration}"


def parse_slot_id(value: str) -> tuple[int, datetime, datetime] | None:
    """The practitioner and times a slot id names, or ``None`` if malformed."""
    parts = value.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    practitioner_id, minutes, duration = (int(p) for p in parts)
    if not 0 < duration <= _MAX_SLOT_MINUTES or minutes > 10**8:
        return None
    start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    return practitioner_id, start, start + timedelta(minutes=duration)


def slot_resource(
    practitioner_id: int,
    start: datetime,
    end: datetime,
    *,
    status: str,
    kind: ConsultationType | None = None,
) -> dict[str, Any]:
    """A computed Slot of one practitioner's Schedule (free or busy)."""
    return _dump(
        Slot,
        {
            "resourceType": "Slot",
            "id": slot_id(practitioner_id, start, end),
            "schedule": {"reference": f"Schedule/{practitioner_id}"},
            "status": status,
            "start": _instant(start),
            "end": _instant(end),
            **({"serviceType": [{"coding": [_kind_coding(kind)]}]} if kind else {}),
        },
    )


def appointment_resource(
    appointment: Appointment, *, labels: dict[str, str], room_url: str | None
) -> dict[str, Any]:
    """An Appointment; the patient's display name only if ``labels`` holds it.

    The booking reason is clinical free text and is never part of it.
    """
    kind = appointment.consultation_type
    participants: list[dict[str, Any]] = [
        {
            "actor": practitioner_reference(p.practitioner),
            "required": "required",
            "status": "accepted",
        }
        for p in appointment.participants.all()
    ]
    patient_ref: dict[str, str] = {"reference": f"Patient/{appointment.patient_id}"}
    label = labels.get(str(appointment.patient_id))
    if label:
        patient_ref["display"] = label
    participants.append(
        {"actor": patient_ref, "required": "required", "status": "accepted"}
    )
    extension: list[dict[str, Any]] = [
        {"url": TZ_CODE_EXTENSION, "valueCode": appointment.time_zone}
    ]
    if room_url:
        extension.append(
            {
                "url": VIRTUAL_SERVICE_EXTENSION,
                "extension": [{"url": "addressUrl", "valueUrl": room_url}],
            }
        )
    updated = max(
        t for t in (appointment.booked_at, appointment.cancelled_at) if t is not None
    )
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(appointment.pk),
        "meta": {"lastUpdated": _instant(updated)},
        "extension": extension,
        "status": appointment.status,
        "appointmentType": {"coding": [_kind_coding(kind)], "text": kind.name},
        "serviceType": [{"coding": [_kind_coding(kind)]}],
        "start": _instant(appointment.starts_at),
        "end": _instant(appointment.ends_at),
        "minutesDuration": int(
            (appointment.ends_at - appointment.starts_at).total_seconds() // 60
        ),
        "created": _instant(appointment.booked_at),
        "participant": participants,
    }
    if appointment.cancellation_reason:
        resource["cancelationReason"] = {
            "coding": [
                {
                    "system": CANCEL_REASON_SYSTEM,
                    "code": appointment.cancellation_reason,
                }
            ]
        }
    return _dump(FhirAppointment, resource)


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """What a POSTed Appointment asks for, in the services' terms."""

    practitioner_ids: list[int]
    patient_id: str
    consultation_type_code: str
    starts_at: datetime
    ends_at: datetime | None
    time_zone: str | None
    reason: str


def reference_id(reference: str | None, resource_type: str) -> str | None:
    """The id in ``Type/id`` (or an absolute URL ending so), if of that type."""
    if not reference:
        return None
    parts = reference.rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != resource_type or not parts[-1]:
        return None
    return parts[-1]


def _codes(concepts: Iterable[Any]) -> list[str]:
    return [
        coding.code
        for concept in concepts
        if concept is not None
        for coding in (concept.coding or [])
        if coding.code and coding.system in (None, CONSULTATION_TYPE_SYSTEM)
    ]


def booking_request_from_fhir(data: Any) -> BookingRequest:
    """Read a FHIR Appointment to book. Raises ``InvalidResource`` (400)."""
    resource = _parse(FhirAppointment, data)
    if resource.status not in BOOKABLE_STATUSES:
        raise InvalidResource(
            "A new Appointment is proposed, pending or booked.", code="invalid_status"
        )
    practitioner_ids: list[int] = []
    patients: list[str] = []
    for participant in resource.participant or []:
        ref = participant.actor.reference if participant.actor else None
        practitioner = reference_id(ref, "Practitioner")
        patient = reference_id(ref, "Patient")
        if practitioner is not None and practitioner.isdigit():
            practitioner_ids.append(int(practitioner))
        elif patient is not None:
            patients.append(patient)
        else:
            raise InvalidResource(
                "Participants are Practitioner/<id> and one Patient/<id>.",
                code="unsupported_participant",
            )
    if len(patients) != 1 or not practitioner_ids:
        raise InvalidResource(
            "Name one Patient and at least one Practitioner.",
            code="invalid_participants",
        )
    codes = _codes([resource.appointmentType, *(resource.serviceType or [])])
    if len(set(codes)) != 1:
        raise InvalidResource(
            f"Give one consultation type code ({CONSULTATION_TYPE_SYSTEM}) in "
            "appointmentType or serviceType.",
            code="invalid_consultation_type",
        )
    if resource.start is None:
        raise InvalidResource("An Appointment to book needs a start.", code="required")
    zones = [
        ext.valueCode
        for ext in resource.extension or []
        if ext.url == TZ_CODE_EXTENSION and ext.valueCode
    ]
    reason = "\n".join(
        concept.text for concept in resource.reasonCode or [] if concept.text
    )
    return BookingRequest(
        practitioner_ids=practitioner_ids,
        patient_id=patients[0],
        consultation_type_code=codes[0],
        starts_at=resource.start,
        ends_at=resource.end,
        time_zone=zones[0] if zones else None,
        reason=reason,
    )


def cancel_reason_from_parameters(data: Any) -> str:
    """The ``reason`` code of a ``$cancel`` Parameters resource."""
    resource = _parse(Parameters, data)
    for parameter in resource.parameter or []:
        if parameter.name != "reason":
            continue
        if parameter.valueCode:
            return str(parameter.valueCode)
        if parameter.valueString:
            return str(parameter.valueString)
        codings = [parameter.valueCoding] if parameter.valueCoding else []
        if parameter.valueCodeableConcept:
            codings += parameter.valueCodeableConcept.coding or []
        for coding in codings:
            if coding.code and coding.system in (None, CANCEL_REASON_SYSTEM):
                return str(coding.code)
    raise InvalidResource("Give a 'reason' parameter with a code.", code="required")


_PREFIXES = ("ge", "gt", "le", "lt", "eq")


def date_range(
    values: Sequence[str], *, zone: str, default_start: datetime, span: timedelta
) -> tuple[datetime, datetime]:
    """``[start, end)`` from FHIR date search values such as ``ge2026-12-14``.

    A bare date is a whole local day in ``zone``; a dateTime must carry an
    offset. A missing bound is ``span`` away from the given one; with neither,
    the range is ``span`` from ``default_start``. Raises ``InvalidResource``.
    """
    start: datetime | None = None
    end: datetime | None = None
    tz = ZoneInfo(zone)
    for raw in values:
        prefix, value = (raw[:2], raw[2:]) if raw[:2] in _PREFIXES else ("eq", raw)
        low, high = _bounds(value, tz)
        if prefix in ("ge", "eq"):
            start = low
        if prefix == "gt":
            start = high
        if prefix in ("le", "eq"):
            end = high
        if prefix == "lt":
            end = low
    if start is None:
        start = default_start if end is None else end - span
    if end is None:
        end = start + span
    if end <= start:
        raise InvalidResource("The date range is empty.", code="invalid_time_range")
    return start, end


def _bounds(value: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a search value starts and ends (a day, or one instant)."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            low = datetime.combine(day, time.min, tzinfo=tz)
            high = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
            return low.astimezone(UTC), high.astimezone(UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidResource(
            f"Not a FHIR date or an instant with an offset: {value[:40]!r}.",
            code="invalid_date",
        )
    return moment.astimezone(UTC), moment.astimezone(UTC)
