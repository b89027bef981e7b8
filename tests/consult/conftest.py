"""Fixtures for consumer tests: the real ASGI app on a real Redis channel layer."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture
def redis_layer(settings) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    """Point the channel layer at Redis with a per-test prefix; flush it afterwards."""
    from asgiref.sync import async_to_sync
    from channels.layers import channel_layers

    config = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                    "socket_timeout": None,
                }
            ],
            "prefix": f"test-{uuid.uuid4().hex[:12]}",
            "capacity": 1000,
        },
    }
    settings.CHANNEL_LAYERS = {"default": config}
    channel_layers.backends.clear()
    yield config
    layer = channel_layers.backends.get("default")
    if layer is not None:
        async_to_sync(layer.flush)()
    channel_layers.backends.clear()


@pytest.fixture
def group_add_fails_once(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The Redis layer's first ``group_add`` fails as if Redis were down.

    Returns the groups asked for, in order (the failed one first).
    """
    from channels_redis.core import RedisChannelLayer
    from redis.exceptions import ConnectionError as RedisConnectionError

    real = RedisChannelLayer.group_add
    calls: list[str] = []

    async def down_once(self, group, channel):  # type: ignore[no-untyped-def]
        calls.append(group)
        if len(calls) == 1:
            raise RedisConnectionError("simulated")
        return await real(self, group, channel)

    monkeypatch.setattr(RedisChannelLayer, "group_add", down_once)
    return calls
