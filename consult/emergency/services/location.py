"""The vehicle's position and the ETA it gives."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from consult.emergency import events, geo
from consult.emergency.models import LocationFix, ReceivingHospital
from consult.emergency.selectors import crew_case_get
from consult.emergency.services._common import Status, _locked, _touch


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
