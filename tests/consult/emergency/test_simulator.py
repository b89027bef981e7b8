"""The device simulator drives a case through the real HTTP API and websocket."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from consult.accounts.services import device_token_create
from consult.emergency import ingest, services
from consult.emergency.management.commands.seed_emergency import seed_emergency
from consult.emergency.management.commands.simulate_ambulance import (
    drive,
    numerics_payload,
)
from consult.emergency.models import EmergencyCase, LocationFix, Team, VitalsBatch
from consult.records.context import COMMAND
from media_core.vitals import VitalsSimulator

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


async def _drive(world, url: str, **options: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A STEMI ambulance of the world's crew, 5 km out, seed 3, with a new token."""
    _token, raw = await sync_to_async(device_token_create)(
        user=world.paramedic, name="sim"
    )
    return await drive(
        base_url=url,
        token=raw,
        scenario="stemi",
        hospital_id=world.hospital.pk,
        start_offset_km=5.0,
        seed=3,
        log=lambda line: None,
        **options,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
async def test_simulated_ambulance_streams_and_arrives(
    world, live_server_url, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    """Four seconds of STEMI: ECG and numerics stored in full, fixes sent, arrived."""
    summary = await _drive(world, live_server_url, duration=4.0)

    def facts() -> tuple[str, int, int, int]:
        case = EmergencyCase.objects.get(pk=summary["case"])
        return (
            case.status,
            VitalsBatch.objects.filter(case=case, kind="ecg").count(),
            VitalsBatch.objects.filter(case=case, kind="numerics").count(),
            LocationFix.objects.filter(case=case).count(),
        )

    status, ecg, numerics, fixes = await sync_to_async(facts)()
    assert (summary["drained"], status, ecg, numerics, fixes >= 1) == (
        True,
        "arrived",
        16,
        4,
        True,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
async def test_resumed_ambulance_carries_on_with_the_crews_case(
    world, live_server_url, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    """--resume drives the crew's en-route case of that scenario; no second case.

    The patient carries on along the scenario from its first numerics five
    minutes ago, not from its start, and the ambulance from where it was
    last seen. A stroke case of the same crew is left
    alone, and without --resume a new case is opened as before.
    """
    stemi = await sync_to_async(world.open_case)(category="stemi")
    stroke = await sync_to_async(world.open_case)(category="stroke")
    earlier = numerics_payload(VitalsSimulator("stemi", seed=3), 0.0)
    await sync_to_async(ingest.vitals_ingest)(
        actor=world.paramedic,
        case_id=stemi.pk,
        batches=[
            ingest.BatchIn(
                device_id="earlier-phone",
                stream_id=uuid.uuid4(),
                seq=0,
                kind="numerics",
                sample_t0=timezone.now() - timedelta(seconds=300),
                rate_hz=0,
                n_samples=1,
                payload=earlier,
                sha256=ingest.payload_sha256(earlier),
            )
        ],
        ctx=COMMAND,
    )
    seen = (51.5574, -0.1678)  # 6 km from the world's hospital
    await sync_to_async(services.location_record)(
        actor=world.paramedic,
        case_id=stemi.pk,
        lat=seen[0],
        lon=seen[1],
        at=timezone.now() - timedelta(seconds=5),
        speed_mps=12.0,
    )
    resumed = await _drive(world, live_server_url, duration=1.0, resume=True)
    fresh = await _drive(world, live_server_url, duration=1.0)

    def facts() -> tuple[str, str, int, int, dict, tuple[float, float]]:
        first = VitalsBatch.objects.get(
            case=stemi, device_id="sim-3", kind="numerics", seq=0
        )
        fixes = LocationFix.objects.filter(case=stemi).order_by("at")
        return (
            EmergencyCase.objects.get(pk=stemi.pk).status,
            EmergencyCase.objects.get(pk=stroke.pk).status,
            VitalsBatch.objects.filter(case=stemi, kind="numerics").count(),
            EmergencyCase.objects.filter(crew=world.crew).count(),
            first.payload,
            (fixes[1].lat, fixes[1].lon),
        )

    *state, payload, drove_from = await sync_to_async(facts)()
    assert (resumed["case"], fresh["case"] != str(stemi.pk)) == (str(stemi.pk), True)
    assert state == ["arrived", "opened", 2, 3]
    sim = VitalsSimulator("stemi", seed=3)
    assert payload in [numerics_payload(sim, t) for t in (300.0, 301.0, 302.0)]
    assert payload != numerics_payload(sim, 0.0)
    assert drove_from == pytest.approx(seen, abs=1e-6)


@pytest.mark.django_db
def test_seed_emergency_creates_teams_and_two_cases_once() -> None:
    """After seed_demo, seeding twice leaves five teams and two inbound cases."""
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    seed_emergency()
    cases = seed_emergency()
    assert (
        Team.objects.count(),
        EmergencyCase.objects.count(),
        all(c.news2_total is not None for c in cases),
    ) == (5, 2, True)
