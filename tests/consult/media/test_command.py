"""``manage.py media_worker``: starts, heartbeats, hands its rooms back on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from consult.media.protocol import room_group

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[3]


def worker_env(media_prefix: str, layer_prefix: str) -> dict[str, str]:
    """Environment of a media worker subprocess sharing this test's Redis keys."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CHANNEL_LAYER_PREFIX": layer_prefix,
        "MEDIA_REDIS_PREFIX": media_prefix,
        "MEDIA_WORKERS": "external",
    }


async def wait_until_live(registry, worker_id: str, limit_s: float = 120) -> None:  # type: ignore[no-untyped-def]
    """Wait for the worker's first heartbeat (startup is slow on a loaded box)."""
    for _ in range(int(limit_s / 0.2)):
        if worker_id in {w.id for w in await registry.live_workers()}:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{worker_id} never heartbeated")


async def test_media_worker_heartbeats_and_shuts_down_cleanly(
    registry, media_prefix, media_layer
) -> None:  # type: ignore[no-untyped-def]
    """It appears live with its capacity; on SIGTERM it exits 0, deregisters and
    tells its rooms media.worker_lost (reason "shutdown")."""
    worker_id = f"w-cmd-{uuid.uuid4().hex[:6]}"
    layer_prefix = media_layer.prefix
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "manage.py", "media_worker"),
        *("--id", worker_id, "--capacity", "3"),
        cwd=ROOT,
        env=worker_env(media_prefix, layer_prefix),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_until_live(registry, worker_id)
        [live] = await registry.live_workers()
        room = str(uuid.uuid4())
        listener = await media_layer.new_channel()
        await media_layer.group_add(room_group(room), listener)
        assert (await registry.place_room(room)).worker_id == worker_id
        process.send_signal(signal.SIGTERM)
        event = await asyncio.wait_for(media_layer.receive(listener), 10)
        code = await asyncio.wait_for(process.wait(), 15)
    finally:
        if process.returncode is None:
            process.kill()
        output = (await process.stdout.read()).decode() if process.stdout else ""
    assert (live.load["capacity"], code) == (3, 0), output
    assert (event["type"], event["worker"], event["reason"]) == (
        "media.worker_lost",
        worker_id,
        "shutdown",
    )
    assert (await registry.live_workers(), await registry.room_worker(room)) == (
        [],
        None,
    )
