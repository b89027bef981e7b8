"""Redis dies and comes back mid-run: boards resume within 10 s and lose no sample.

A private redis-server (never the machine's shared one, which other runs
use) backs a uvicorn serving the app against the test database. A crew
streams ECG and numerics with the lossless protocol client; a board client
with board.js's logic (``boardclient.py``) follows the case. Redis is killed
with SIGKILL (no persistence: every group membership is gone) and started
again on the same port. The sockets must stay up, live events must resume
within 10 s of Redis answering again, and through seq gaps and HTTP backfill
the board must end with every batch of every stream exactly once. A second
board that connects while Redis is down must be accepted and catch up too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from consult.accounts.services import device_token_create
from consult.emergency.device import Uplink
from consult.emergency.models import VitalsBatch
from tests.consult.emergency.boardclient import BoardClient
from tests.consult.emergency.conftest import ROOT, live_server, session_cookie

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]
RESUME_WITHIN_S = 10.0
SAMPLES = 63
BATCHES_PER_SECOND = 8


@pytest.fixture
def restart_server_url(  # type: ignore[no-untyped-def]
    private_redis, django_db_setup, django_db_blocker
) -> Iterator[str]:
    """uvicorn whose channel layer is the test's private Redis."""
    from django.db import connection

    with live_server(connection.settings_dict, REDIS_URL=private_redis.url) as url:
        yield url


class _Crew:
    """Adds an ECG batch every 1/8 s and numerics every 4th, numbered from 0."""

    def __init__(self, uplink: Uplink) -> None:
        self.uplink = uplink
        self.ecg = uplink.open_stream("ecg")
        self.numerics = uplink.open_stream("numerics")
        self.n = 0

    async def stream(self, seconds: float) -> None:
        for _ in range(int(seconds * BATCHES_PER_SECOND)):
            base = self.n * SAMPLES
            self.uplink.add(
                self.ecg,
                payload={"lead": "II", "unit": "uV", "samples": _samples(self.n)},
                sample_t0_ms=1.7e12 + base * 4,
                rate_hz=250,
                n_samples=SAMPLES,
            )
            if self.n % 4 == 0:
                self.uplink.add(
                    self.numerics,
                    payload={"values": {"hr": 60 + self.n % 40, "spo2": 97}},
                    sample_t0_ms=1.7e12 + base * 4,
                )
            self.n += 1
            await asyncio.sleep(1 / BATCHES_PER_SECOND)


def _samples(n: int) -> list[int]:
    return [(n * SAMPLES + k) % 30000 for k in range(SAMPLES)]


def _server_log(base: str) -> str:
    port = base.rsplit(":", 1)[1]
    path = ROOT / "var" / f"emergency-server-{port}.log"
    return Path(path).read_text() if path.exists() else ""


async def _until(condition: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_boards_resume_and_backfill_after_a_redis_restart(
    world, private_redis, restart_server_url
) -> None:  # type: ignore[no-untyped-def]
    """Kill Redis for 3 s mid-stream: live again within 10 s, every batch once."""
    base = restart_server_url
    case = await sync_to_async(world.open_case)()
    _token, raw = await sync_to_async(device_token_create)(
        user=world.paramedic, name="restart test"
    )
    cookie = (await sync_to_async(session_cookie)(world.operator)).decode()
    board = BoardClient(base, cookie, str(case.pk))
    uplink = Uplink(
        ws_url=f"{base.replace('http', 'ws', 1)}/ws/emergency/crew/{case.pk}/",
        headers={"Authorization": f"Token {raw}"},
        origin=base,
        device_id="restart-phone",
        ping_every=1.0,
        backoff_base=0.05,
        backoff_cap=1.0,
    )
    # A second board opens while Redis is down.
    late_board = BoardClient(base, cookie, str(case.pk))
    crew = _Crew(uplink)
    stop = asyncio.Event()
    board_task = asyncio.create_task(board.run(stop))
    assert await _until(lambda: board.connects == 1, 15)
    uplink_task = asyncio.create_task(uplink.run(stop))

    await crew.stream(4.0)
    live_before = len(board.live_at)
    private_redis.kill()
    await crew.stream(1.0)
    late_task = asyncio.create_task(late_board.run(stop))
    await crew.stream(2.0)
    await asyncio.to_thread(private_redis.start)
    restarted_at = time.monotonic()
    await crew.stream(6.0)
    drained = await uplink.drained(30)

    expected = {s: box.next_seq for s, box in uplink.streams.items()}

    def caught_up() -> bool:
        return all(
            s in b.streams and b.streams[s].last == n - 1
            for s, n in expected.items()
            for b in (board, late_board)
        )

    complete = await _until(caught_up, 20)
    stop.set()
    await asyncio.gather(board_task, uplink_task, late_task)
    resumed = [t - restarted_at for t in board.live_at if t > restarted_at]

    def stored(stream: str) -> list[int]:
        return list(
            VitalsBatch.objects.filter(stream_id=stream)
            .order_by("seq")
            .values_list("seq", flat=True)
        )

    stored_seqs = {s: await sync_to_async(stored)(s) for s in expected}
    ecg_view = board.streams.get(crew.ecg)
    samples = [x for p in (ecg_view.payloads if ecg_view else []) for x in p["samples"]]
    log = _server_log(base)
    print(
        f"resumed after {resumed[0] if resumed else -1:.2f} s; "
        f"resyncs {len(board.resyncs)}; backfilled {board.backfilled}; "
        f"live before kill {live_before}; expected {expected}"
    )
    assert (
        drained,
        complete,
        board.connects,
        late_board.connects,
        uplink.stats.connects,
        len(board.resyncs) >= 1,
        bool(resumed) and resumed[0] <= RESUME_WITHIN_S,
        board.backfilled > 0,
        {s: board.streams[s].delivered for s in expected if s in board.streams},
        {
            s: late_board.streams[s].delivered
            for s in expected
            if s in late_board.streams
        },
        stored_seqs,
        samples == [x for n in range(expected[crew.ecg]) for x in _samples(n)],
        "Exception in ASGI application" in log,
    ) == (
        True,
        True,
        1,
        1,
        1,
        True,
        True,
        True,
        {s: list(range(n)) for s, n in expected.items()},
        {s: list(range(n)) for s, n in expected.items()},
        {s: list(range(n)) for s, n in expected.items()},
        True,
        False,
    )
