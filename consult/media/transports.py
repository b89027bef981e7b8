"""Transports between the web tier and a media worker.

Both implement ``media_core``'s ``Transport`` protocol (``receive``, ``send``,
``group_send``); the worker cannot tell them apart.

- ``ChannelLayerTransport``: scaled mode, a worker process on the Redis layer.
- ``BridgeTransport``: embedded mode, the worker on its own thread and event
  loop inside the web process. asyncio queues and the in-memory channel layer
  are not thread-safe, so every message crosses threads with
  ``call_soon_threadsafe`` / ``run_coroutine_threadsafe`` onto the loop that
  owns the object it touches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from consult.media.protocol import worker_channel

logger = logging.getLogger(__name__)

_RECONNECT_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class ChannelLayerTransport:
    """A worker's transport over the configured channel layer (Redis when scaled).

    Receives on ``media.worker.<id>``; replies go to consumers' reply channels and
    room notices to groups. A Redis outage makes ``receive`` retry with backoff
    instead of killing the worker; a reply that cannot be delivered is dropped
    and logged (the participant's request times out and it renegotiates).
    """

    def __init__(self, worker_id: str, layer: BaseChannelLayer | None = None) -> None:
        self.worker_id = worker_id
        self.channel = worker_channel(worker_id)
        self.layer = layer if layer is not None else get_channel_layer()
        if self.layer is None:
            raise RuntimeError("No channel layer is configured.")

    async def receive(self) -> dict[str, Any]:
        """The next message for this worker."""
        failures = 0
        while True:
            try:
                return await self.layer.receive(self.channel)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                delay = _RECONNECT_DELAYS_S[min(failures, len(_RECONNECT_DELAYS_S) - 1)]
                failures += 1
                logger.warning(
                    "media worker %s: receive failed (%s); retrying in %.1f s",
                    self.worker_id,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send to one consumer's reply channel."""
        try:
            await self.layer.send(channel, message)
        except ChannelFull:
            logger.warning(
                "media worker %s: reply channel full, dropped %s",
                self.worker_id,
                message.get("type"),
            )

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send to every member of a group (at most once, may drop)."""
        await self.layer.group_send(group, message)


class BridgeTransport:
    """The worker side of the embedded bridge; lives on the worker's loop.

    The web side calls ``deliver`` (any thread) with the loop that will receive
    the replies. Replies and group notices are run on that web loop, where the
    channel layer lives. The inbox is bounded: when the worker falls behind, a
    new request is refused with ``worker_overloaded`` instead of growing memory.
    """

    def __init__(
        self,
        worker_loop: asyncio.AbstractEventLoop,
        *,
        inbox_size: int = 1000,
        layer_getter: Callable[[], BaseChannelLayer | None] = get_channel_layer,
    ) -> None:
        self._loop = worker_loop
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(inbox_size)
        self._layer_getter = layer_getter
        # Which web loop owns each reply channel; the last one seen serves groups.
        self._web_loops: dict[str, asyncio.AbstractEventLoop] = {}
        self._default_web_loop: asyncio.AbstractEventLoop | None = None

    # -- web side (any thread) -------------------------------------------------

    def deliver(
        self, message: dict[str, Any], web_loop: asyncio.AbstractEventLoop
    ) -> None:
        """Hand ``message`` to the worker. Thread-safe; never blocks."""
        reply_to = message.get("reply_to")
        self._loop.call_soon_threadsafe(self._enqueue, message, reply_to, web_loop)

    # -- worker side (worker loop) ---------------------------------------------

    def _enqueue(
        self,
        message: dict[str, Any],
        reply_to: str | None,
        web_loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._default_web_loop = web_loop
        if reply_to:
            if message.get("type") == "media.leave":
                self._web_loops.pop(reply_to, None)
            else:
                self._web_loops[reply_to] = web_loop
        try:
            self._inbox.put_nowait(message)
        except asyncio.QueueFull:
            logger.warning("embedded media worker overloaded; refused a message")
            if reply_to:
                refusal = {
                    "type": "media.error",
                    "code": "worker_overloaded",
                    "detail": "The media worker is overloaded; retry shortly.",
                    "for": message.get("type"),
                }
                self._loop.create_task(self.send(reply_to, refusal))

    async def receive(self) -> dict[str, Any]:
        """The next message for the worker."""
        return await self._inbox.get()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send to a consumer's reply channel on the web loop that owns it."""
        loop = self._web_loops.get(channel, self._default_web_loop)

        async def _send() -> None:
            layer = self._layer_getter()
            if layer is not None:
                await layer.send(channel, message)

        await self._on_web_loop(loop, _send, message)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send to a group on the web loop."""

        async def _group_send() -> None:
            layer = self._layer_getter()
            if layer is not None:
                await layer.group_send(group, message)

        await self._on_web_loop(self._default_web_loop, _group_send, message)

    async def _on_web_loop(
        self,
        loop: asyncio.AbstractEventLoop | None,
        factory: Callable[[], Coroutine[Any, Any, None]],
        message: dict[str, Any],
    ) -> None:
        if loop is None or loop.is_closed():
            logger.info("no web loop for %s; dropped", message.get("type"))
            return

        try:
            future = asyncio.run_coroutine_threadsafe(factory(), loop)
        except RuntimeError:  # the loop closed in between
            logger.info("web loop closed; dropped %s", message.get("type"))
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), timeout=5)
        except ChannelFull:
            logger.warning("reply channel full; dropped %s", message.get("type"))
        except TimeoutError:
            logger.warning("web loop too slow; dropped %s", message.get("type"))
