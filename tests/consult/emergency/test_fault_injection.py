"""The uplink through a proxy that cuts, resets, delays and blackholes it, many times.

A real uvicorn serves the app against the test database and Redis; the
device client is the same one the simulator uses. Every sample must arrive
exactly once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest
from asgiref.sync import sync_to_async

from consult.accounts.services import device_token_create
from consult.emergency.device import Uplink
from consult.emergency.models import VitalsBatch
from tests.consult.emergency.faultproxy import FaultProxy

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]
SAMPLES_PER_BATCH = 63
RUN_SECONDS = 24.0
BATCHES_PER_SECOND = 8


async def _faults(proxy: FaultProxy, stop: asyncio.Event, rng: random.Random) -> None:
    actions = ["cut", "reset", "delay", "blackhole", "dead_zone"]
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(0.8, 2.0))
        if stop.is_set():
            break
        action = actions[proxy.faults % len(actions)]
        if action == "cut":
            proxy.cut()
        elif action == "reset":
            proxy.reset()
        elif action == "delay":
            proxy.latency(0.3, 0.2)
            proxy.faults += 1
        elif action == "blackhole":
            proxy.blackhole(True)
            await asyncio.sleep(2.5)
            proxy.blackhole(False)
            proxy.cut()
        else:
            proxy.refuse(True)
            proxy.cut()
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            proxy.refuse(False)
        if action != "delay":
            proxy.latency(0.0)


async def test_every_sample_arrives_exactly_once_in_order(
    world, live_server_url, redis_layer
) -> None:  # type: ignore[no-untyped-def]
    """ECG and numerics through ~15 faults: each stream holds 0..n-1, samples intact."""
    case = await sync_to_async(world.open_case)()
    _token, raw = await sync_to_async(device_token_create)(
        user=world.paramedic, name="fault test"
    )
    port = int(live_server_url.rsplit(":", 1)[1])
    proxy = await FaultProxy("127.0.0.1", port, seed=7).start()
    uplink = Uplink(
        ws_url=f"ws://127.0.0.1:{proxy.port}/ws/emergency/crew/{case.pk}/",
        headers={"Authorization": f"Token {raw}"},
        origin=live_server_url,
        device_id="fault-phone",
        ping_every=1.0,
        backoff_base=0.05,
        backoff_cap=1.0,
    )
    ecg, numerics = uplink.open_stream("ecg"), uplink.open_stream("numerics")
    stop_uplink, stop_faults = asyncio.Event(), asyncio.Event()
    runner = asyncio.create_task(uplink.run(stop_uplink))
    chaos = asyncio.create_task(_faults(proxy, stop_faults, random.Random(3)))
    total = int(RUN_SECONDS * BATCHES_PER_SECOND)
    for i in range(total):
        base = i * SAMPLES_PER_BATCH
        samples = [(base + k) % 30000 for k in range(SAMPLES_PER_BATCH)]
        uplink.add(
            ecg,
            payload={"lead": "II", "unit": "uV", "samples": samples},
            sample_t0_ms=1.7e12 + base * 4,
            rate_hz=250,
            n_samples=SAMPLES_PER_BATCH,
        )
        if i % 4 == 0:
            uplink.add(
                numerics,
                payload={"values": {"hr": 60 + i % 40, "spo2": 97}},
                sample_t0_ms=1.7e12 + base * 4,
            )
        await asyncio.sleep(1 / BATCHES_PER_SECOND)
    stop_faults.set()
    await chaos
    proxy.latency(0.0)
    drained = await uplink.drained(60)
    stop_uplink.set()
    await runner
    await proxy.stop()

    def stored(stream: str) -> list[tuple[int, dict]]:  # type: ignore[type-arg]
        return list(
            VitalsBatch.objects.filter(stream_id=stream)
            .order_by("seq")
            .values_list("seq", "payload")
        )

    ecg_rows = await sync_to_async(stored)(ecg)
    numerics_rows = await sync_to_async(stored)(numerics)
    samples = [s for _seq, payload in ecg_rows for s in payload["samples"]]
    expected = [k % 30000 for k in range(total * SAMPLES_PER_BATCH)]
    assert (
        drained,
        proxy.faults >= 10,
        uplink.stats.connects > 5,
        [seq for seq, _ in ecg_rows] == list(range(total)),
        [seq for seq, _ in numerics_rows] == list(range((total + 3) // 4)),
        samples == expected,
    ) == (True, True, True, True, True, True)
