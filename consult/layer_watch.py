"""Channel-layer outages: keep sockets up, notice restarts, restore group memberships.

channels-redis keeps group memberships in Redis. A Redis restart without
persistence forgets them and nothing tells the consumers: the process's one
shared ``BZPOPMIN`` fails once (in whichever consumer holds the receive lock)
and the next receive simply reconnects, so every other socket stays open but
deaf. One ``LayerWatch`` per channel layer and event loop therefore probes
the layer every ``PROBE_EVERY_S`` seconds: it keeps a sentinel key (under the
layer's prefix, with a short expiry it refreshes), so a restart without
persistence or a flush is noticed even when no command failed, because the
sentinel is gone. When the layer answers again, or answers without the
sentinel, every registered consumer re-joins its groups and tells its client
to resync; receivers then backfill the gap by sequence number over HTTP, so a
lost live event never becomes lost data.

While a probe fails, ``is_down`` lets the after-commit fan-out skip the layer
instead of failing once per event (the data is committed; clients backfill).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from typing import Any, Protocol

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What a channel-layer call raises when the layer (Redis) is unreachable.
LAYER_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, RedisError)
PROBE_EVERY_S = 1.0
RETRY_EVERY_S = 0.5
# A Redis that does not answer a probe for this long counts as down (a hung
# server); well above event-loop lag under load, so a busy process does not
# skip its fan-out by mistake.
PROBE_TIMEOUT_S = 10.0
# Outlives many probe intervals; expires soon after its process is gone.
SENTINEL_TTL_S = 60

# id() of layers whose last probe failed. Read from DB threads (a set lookup
# is atomic under the GIL), written only on the event loop.
_DOWN: set[int] = set()
_WATCHES: dict[tuple[int, int], LayerWatch] = {}


class Restorable(Protocol):
    """A consumer that can re-join its groups after a layer outage."""

    layer_stale: bool

    async def layer_restored(self) -> None:
        """Re-join groups and tell the client that live events may be missing."""


def is_down(layer: Any) -> bool:
    """Whether the last probe of ``layer`` failed (callable from any thread)."""
    return id(layer) in _DOWN


def watch_for(layer: Any) -> LayerWatch | None:
    """The running loop's watch of ``layer``; None for layers that cannot fail.

    Only channels-redis layers (``connection`` and ``ring_size``) lose state
    on their own; the in-memory layer lives and dies with the process.
    """
    if layer is None or not hasattr(layer, "connection"):
        return None
    loop = asyncio.get_running_loop()
    key = (id(layer), id(loop))
    watch = _WATCHES.get(key)
    if watch is None:
        watch = _WATCHES[key] = LayerWatch(layer, key)
    return watch


class LayerWatch:
    """Probes one layer on one event loop while any consumer is registered."""

    def __init__(self, layer: Any, key: tuple[int, int]) -> None:
        self.layer, self.key = layer, key
        self.sentinel = f"{getattr(layer, 'prefix', 'asgi')}:watch:{uuid.uuid4().hex}"
        self.members: weakref.WeakSet[Any] = weakref.WeakSet()
        self.primed = False
        self.down = False
        self.restores = 0
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def add(self, member: Restorable) -> None:
        """Register a consumer; the watch runs while it has any."""
        self.members.add(member)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, member: Restorable) -> None:
        """Unregister a consumer; the last one out stops the watch."""
        self.members.discard(member)
        if not self.members:
            if self._task is not None:
                self._task.cancel()
            _WATCHES.pop(self.key, None)
            _DOWN.discard(id(self.layer))

    def trouble(self) -> None:
        """A consumer saw a layer error: probe now rather than at the next tick."""
        self._poke.set()

    async def _probe(self) -> bool:
        """Whether a Redis server lost its data (the sentinel had to be re-created)."""
        lost = False
        for index in range(int(getattr(self.layer, "ring_size", 1))):
            pipe = self.layer.connection(index).pipeline(transaction=False)
            pipe.set(self.sentinel, b"1", nx=True, ex=SENTINEL_TTL_S)
            pipe.expire(self.sentinel, SENTINEL_TTL_S)
            created, _ = await pipe.execute()
            lost = lost or bool(created)
        return lost

    async def _run(self) -> None:
        delay = 0.0  # the first probe at once: members joined on this server's data
        try:
            while self.members:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poke.wait(), delay)
                self._poke.clear()
                try:
                    lost = await asyncio.wait_for(self._probe(), PROBE_TIMEOUT_S)
                except LAYER_ERRORS as exc:
                    if not self.down:
                        logger.warning(
                            "channel layer unreachable (%s): sockets stay up and "
                            "resync when it is back",
                            type(exc).__name__,
                        )
                    self.down = True
                    _DOWN.add(id(self.layer))
                    delay = RETRY_EVERY_S
                    continue
                # The first probe only creates the sentinel.
                restarted = lost and self.primed
                self.primed = True
                everyone = self.down or restarted
                targets = [m for m in list(self.members) if everyone or m.layer_stale]
                if targets:
                    logger.warning(
                        "channel layer back (restarted=%s): %d sockets re-join",
                        restarted,
                        len(targets),
                    )
                    self.restores += 1
                for member in targets:
                    member.layer_stale = False
                    task = asyncio.get_running_loop().create_task(self._restore(member))
                    self._pending.add(task)
                    task.add_done_callback(self._pending.discard)
                self.down = False
                _DOWN.discard(id(self.layer))
                delay = PROBE_EVERY_S
        except asyncio.CancelledError:
            return
        except Exception:
            logger.exception("channel layer watch stopped")

    async def _restore(self, member: Restorable) -> None:
        try:
            await member.layer_restored()
        except LAYER_ERRORS:
            # Down again already: the next successful probe restores it.
            member.layer_stale = True
            self.trouble()
        except Exception:
            logger.exception("re-joining channel-layer groups failed")
