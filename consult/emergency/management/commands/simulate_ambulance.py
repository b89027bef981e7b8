"""``manage.py simulate_ambulance``: drive a case exactly as a crew's phone does.

Opens a case over the HTTP API (or, with ``--resume``, carries on with the
crew's case already on its way, as a phone reopened mid-journey does),
streams ECG (250 Hz, a batch every 250 ms) and numerics (1 Hz) over the
crew websocket with the lossless protocol, sends location fixes along a
straight-line route with an ETA, and marks arrival at the end. Vitals come
from ``media_core.vitals.VitalsSimulator``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from django.core.management.base import BaseCommand, CommandError

from consult.emergency import geo
from consult.emergency.device import Uplink
from media_core.vitals import SCENARIOS, VitalsSimulator

CATEGORY = {
    "stable": "other",
    "stemi": "stemi",
    "stroke": "stroke",
    "sepsis": "sepsis",
    "trauma": "trauma",
}
BATCH_S = 0.25
ECG_HZ = 250.0


def _http(
    method: str, url: str, token: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310  (the operator's own server URL)
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        return json.loads(response.read() or b"{}")


def numerics_payload(sim: VitalsSimulator, t: float) -> dict[str, Any]:
    """The simulator's numerics at ``t`` as a wire payload."""
    v = sim.numerics_at(t)
    return {
        "values": {
            "hr": round(v.hr, 0),
            "spo2": round(v.spo2, 0),
            "sbp": round(v.sbp, 0),
            "dbp": round(v.dbp, 0),
            "rr": round(v.rr, 0),
            "temp_c": round(v.temp_c, 1),
            "acvpu": v.acvpu,
            "supplemental_o2": v.supplemental_o2,
        }
    }


def ecg_payload(sim: VitalsSimulator, t0: float, t1: float) -> list[int]:
    """Lead II samples on the absolute 250 Hz grid in ``[t0, t1)``, microvolts."""
    samples, _rate = sim.waveform("ecg", t0, t1, ECG_HZ)
    return [int(max(-32768, min(32767, round(s * 1000)))) for s in samples]


async def drive(
    *,
    base_url: str,
    token: str,
    scenario: str,
    duration: float,
    hospital_id: int | None,
    start_offset_km: float,
    seed: int,
    log: Any,
    resume: bool = False,
) -> dict[str, Any]:
    """Run one ambulance for ``duration`` seconds; returns a summary."""
    hospitals = (
        await asyncio.to_thread(
            _http, "GET", f"{base_url}/api/emergency/hospitals/", token
        )
    )["hospitals"]
    if not hospitals:
        raise CommandError("No receiving hospital is configured (run seed_emergency).")
    hospital = next((h for h in hospitals if h["id"] == hospital_id), hospitals[0])
    end = (hospital["lat"], hospital["lon"])
    degrees = start_offset_km / 111.0
    start = (
        end[0] + degrees * 0.8,
        end[1] + degrees * 0.6 / math.cos(math.radians(end[0])),
    )
    case = (
        await _resumable(base_url, token, hospital["id"], scenario) if resume else None
    )
    offset = 0
    if case is not None:
        # A resumed patient carries on along its scenario from where its vitals
        # so far left it (whole seconds keep the ECG on its 250 Hz grid), and
        # the ambulance drives on from where it was last seen.
        offset = await _vitals_age(base_url, token, case)
        if case["position"]:
            start = (case["position"]["lat"], case["position"]["lon"])
    else:
        case = await asyncio.to_thread(
            _http,
            "POST",
            f"{base_url}/api/emergency/cases/",
            token,
            {
                "destination": hospital["id"],
                "category": CATEGORY[scenario],
                "estimated_age": 40 + seed % 45,
                "sex": "male" if seed % 2 else "female",
                "chief_complaint": f"Simulated {scenario} patient",
                "treatment": "Simulated: oxygen, IV access",
            },
        )
    case_id = case["id"]
    if case["status"] == "opened":
        await asyncio.to_thread(
            _http,
            "POST",
            f"{base_url}/api/emergency/cases/{case_id}/depart/",
            token,
            {},
        )
    log(f"case {case_id} ({scenario}) → {hospital['name']}")
    parsed = urlparse(base_url)
    scheme = "wss" if parsed.scheme == "https" else "ws"
    uplink = Uplink(
        ws_url=f"{scheme}://{parsed.netloc}/ws/emergency/crew/{case_id}/",
        headers={"Authorization": f"Token {token}"},
        origin=f"{parsed.scheme}://{parsed.netloc}",
        device_id=f"sim-{seed}",
    )
    ecg, numerics = uplink.open_stream("ecg"), uplink.open_stream("numerics")
    sim = VitalsSimulator(scenario, seed=seed)
    stop = asyncio.Event()
    runner = asyncio.create_task(uplink.run(stop))
    distance = geo.haversine_m(*start, *end)
    # A short demo run still reports a believable road speed.
    speed = min(40.0, distance * geo.ROAD_FACTOR / max(duration, 1.0))
    began = time.monotonic()
    wall0 = time.time()
    tick = 0
    fix: dict[str, Any] | None = None
    while (elapsed := tick * BATCH_S) < duration:
        await asyncio.sleep(max(0.0, began + elapsed + BATCH_S - time.monotonic()))
        t0, t1 = elapsed, elapsed + BATCH_S
        samples = ecg_payload(sim, offset + t0, offset + t1)
        if samples:
            uplink.add(
                ecg,
                payload={"lead": "II", "unit": "uV", "samples": samples},
                sample_t0_ms=(wall0 + math.ceil(t0 * ECG_HZ) / ECG_HZ) * 1000,
                rate_hz=ECG_HZ,
                n_samples=len(samples),
            )
        if tick % 4 == 0:
            uplink.add(
                numerics,
                payload=numerics_payload(sim, offset + t0),
                sample_t0_ms=(wall0 + t0) * 1000,
            )
        if tick % 20 == 0:
            lat, lon = geo.interpolate(start, end, elapsed / duration)
            fix = {
                "type": "location",
                "lat": lat,
                "lon": lon,
                "speed_mps": speed,
                "accuracy_m": 10.0,
            }
        # Positions are not part of the lossless protocol: the latest one is
        # kept until a socket is up, older ones are superseded.
        if fix is not None and await uplink.send_extra(
            {**fix, "at": time.time() * 1000}
        ):
            fix = None
        tick += 1
    drained = await uplink.drained(60)
    stop.set()
    await runner
    await asyncio.to_thread(
        _http, "POST", f"{base_url}/api/emergency/cases/{case_id}/arrive/", token, {}
    )
    return {
        "case": case_id,
        "batches": sum(b.next_seq for b in uplink.streams.values()),
        "drained": drained,
        "reconnects": max(0, uplink.stats.connects - 1),
        "errors": uplink.stats.errors,
    }


async def _resumable(
    base_url: str, token: str, hospital_id: int, scenario: str
) -> dict[str, Any] | None:
    """The crew's case of this scenario still on its way to the hospital, if any.

    A crew carries one patient at a time: a phone reopened mid-journey goes
    on with that case rather than opening a second one.
    """
    cases = (
        await asyncio.to_thread(_http, "GET", f"{base_url}/api/emergency/cases/", token)
    )["cases"]
    return next(
        (
            c
            for c in cases
            if c["status"] in ("opened", "en_route", "accepted")
            and c["category"] == CATEGORY[scenario]
            and c["destination"]["id"] == hospital_id
        ),
        None,
    )


async def _vitals_age(base_url: str, token: str, case: dict[str, Any]) -> int:
    """Whole seconds since the case's first numerics sample (0 without any)."""
    firsts = []
    for stream in case["streams"]:
        if stream["kind"] != "numerics":
            continue
        page = await asyncio.to_thread(
            _http,
            "GET",
            f"{base_url}/api/emergency/cases/{case['id']}/vitals/"
            f"?stream={stream['stream']}&limit=1",
            token,
        )
        firsts += [datetime.fromisoformat(b["sample_t0"]) for b in page["batches"]]
    if not firsts:
        return 0
    return max(0, int((datetime.now(UTC) - min(firsts)).total_seconds()))


class Command(BaseCommand):
    help = "Simulate an ambulance: open a case, stream vitals and location, arrive."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="stemi")
        parser.add_argument("--duration", type=float, default=600.0, help="seconds")
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--token", help="a paramedic's device token")
        parser.add_argument(
            "--user",
            default="medic.alpha",
            help="without --token, create a token for this paramedic",
        )
        parser.add_argument("--hospital", type=int, help="destination organisation id")
        parser.add_argument(
            "--distance-km",
            type=float,
            default=8.0,
            help="start this far from the hospital (--resume: where last seen)",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--resume",
            action="store_true",
            help="carry on with the crew's case of this scenario already en route, "
            "its patient's scenario from its first vitals",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        token = options["token"] or self._token(options["user"])
        summary = asyncio.run(
            drive(
                base_url=options["url"].rstrip("/"),
                token=token,
                scenario=options["scenario"],
                duration=options["duration"],
                hospital_id=options["hospital"],
                start_offset_km=options["distance_km"],
                seed=options["seed"],
                log=lambda line: self.stdout.write(line),
                resume=options["resume"],
            )
        )
        self.stdout.write(json.dumps(summary))

    def _token(self, username: str) -> str:
        from consult.accounts.models import Role, User
        from consult.accounts.services import device_token_create

        user = User.objects.filter(username=username, role=Role.PARAMEDIC).first()
        if user is None:
            raise CommandError(f"No paramedic {username!r}; pass --token or --user.")
        _token, raw = device_token_create(user=user, name="simulate_ambulance")
        return raw
