"""The command board in Chromium through a Redis restart: it resyncs and backfills.

The app is served against a private redis-server (never the machine's shared
one), which is killed mid-stream and started again on the same port. The
phone's socket and the board's socket stay up; when Redis answers again the
board gets ``resync``, subscribes again and fetches the ECG batches whose live
messages were lost, so its strip plays every seq once and skips none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from consult.emergency.models import VitalsStream
from tests.consult.emergency.conftest import live_server
from tests.e2e.conftest import _database_url
from tests.e2e.test_emergency import DESKTOP, PHONE, _open_case, _sign_in, _world

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]
RESUME_WITHIN_S = 10.0


@pytest.fixture
def restart_url(transactional_db, private_redis) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """uvicorn on the private Redis (torn down before the database flush)."""
    from django.db import connection

    with live_server(
        connection.settings_dict,
        REDIS_URL=private_redis.url,
        DATABASE_URL=_database_url(connection.settings_dict),
    ) as url:
        yield url


def test_board_resyncs_and_backfills_after_a_redis_restart(
    browser, restart_url, private_redis
) -> None:  # type: ignore[no-untyped-def]
    w = _world()
    case = _open_case(paramedic=w["paramedic"], destination=w["hospital"])
    phone = browser.new_context(**PHONE).new_page()
    _sign_in(phone, restart_url, w["paramedic"].username)
    phone.goto(f"{restart_url}/emergency/crew/{case.pk}/")
    phone.wait_for_function("document.body.dataset.crewReady === '1'")
    phone.tap("#device-toggle")
    phone.wait_for_function("window.__crew.stats().acked >= 4", timeout=30_000)
    board = browser.new_context(**DESKTOP).new_page()
    _sign_in(board, restart_url, w["operator"].username)
    board.goto(f"{restart_url}/emergency/board/?case={case.pk}")
    board.wait_for_function("window.__board.stats.live >= 4", timeout=30_000)
    backfilled = board.evaluate("window.__board.stats.backfilled")

    private_redis.kill()
    time.sleep(3.0)  # ~12 ECG batches committed whose live messages are lost
    private_redis.start()
    restarted = time.monotonic()
    live = board.evaluate("window.__board.stats.live")
    board.wait_for_function(
        f"window.__board.stats.resyncs >= 1 && window.__board.stats.live > {live}",
        timeout=RESUME_WITHIN_S * 1000,
    )
    resumed_after = time.monotonic() - restarted
    ecg = VitalsStream.objects.get(case=case, kind="ecg")
    board.wait_for_function(
        f"(window.__board.lastSeqs()['{ecg.stream_id}'] ?? -1) >= {ecg.acked_through}",
        timeout=30_000,
    )
    stats = board.evaluate("window.__board.stats")
    crew = phone.evaluate("window.__crew.stats()")
    assert (
        resumed_after <= RESUME_WITHIN_S,
        stats["skipped"],
        stats["backfilled"] - backfilled >= 8,
        board.locator("#board-link").inner_text(),
        crew["reconnects"],
        crew["state"],
    ) == (True, 0, True, "Live", 0, "online"), (resumed_after, stats, crew)
