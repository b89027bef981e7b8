"""Fixtures for media-worker tests: an isolated Redis key space, stub workers."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from consult.media.placement import WorkerRegistry

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def media_prefix(settings) -> str:  # type: ignore[no-untyped-def]
    """A per-test Redis key prefix for placement, also set in settings."""
    prefix = f"test-media-{uuid.uuid4().hex[:10]}"
    settings.MEDIA_REDIS_PREFIX = prefix
    settings.REDIS_URL = REDIS_URL
    return prefix


@pytest.fixture
async def registry(media_prefix: str) -> AsyncIterator[WorkerRegistry]:
    """A registry on the real Redis; its keys are deleted afterwards."""
    registry = WorkerRegistry(REDIS_URL, prefix=media_prefix)
    yield registry
    keys = [key async for key in registry.redis.scan_iter(f"{media_prefix}:*")]
    if keys:
        await registry.redis.delete(*keys)
    await registry.aclose()


@pytest.fixture
async def media_layer(settings) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    """The Redis channel layer with a per-test prefix, flushed on the test's loop.

    (``redis_layer`` flushes through ``async_to_sync`` on another loop, which
    hangs once a test has received on the layer directly.)
    """
    from channels.layers import channel_layers, get_channel_layer

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": f"test-{uuid.uuid4().hex[:12]}",
                "capacity": 1000,
            },
        }
    }
    channel_layers.backends.clear()
    layer = get_channel_layer()
    yield layer
    await layer.flush()
    channel_layers.backends.clear()


@pytest.fixture
def memory_layer(settings) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """The in-memory channel layer, as in the embedded demo."""
    from channels.layers import channel_layers, get_channel_layer

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


class EchoWorker:
    """A stand-in worker: answers every message with ``media.stats`` to reply_to.

    ``block_s`` makes it hold its own loop (as CPU-bound media work would) on
    each message, to show that the web loop does not wait for it.
    """

    block_s = 0.0

    def __init__(self, worker_id: str, transport: Any, **kwargs: Any) -> None:
        self.worker_id, self.transport = worker_id, transport
        self.closed = asyncio.Event()
        self.handled = 0
        self.threads: set[int] = set()

    async def run(self) -> None:
        while True:
            message = await self.transport.receive()
            self.threads.add(threading.get_ident())
            if self.block_s:
                time.sleep(self.block_s)  # noqa: ASYNC251  (deliberate stall)
            self.handled += 1
            reply = {"type": "media.stats", "tracks": {}, "peers": {}}
            reply["for_room"] = message.get("room")
            await self.transport.send(message["reply_to"], reply)

    def load(self) -> dict[str, Any]:
        return {"rooms": 0, "peers": 0, "tracks": 0, "cpu": 0.0}

    async def close(self) -> None:
        self.closed.set()
